"""Emma's Segment destination: everything app.py's routes delegate to, one module per responsibility."""
