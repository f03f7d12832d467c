"""Enable with Segment: Emma creates its destination in a customer's Segment workspace.

The customer starts from Emma (with their API key, or a link the Emma app
signs), consents on Segment and picks a source; Segment sends the browser back
with a code, which is exchanged for an install token, with which the Emma
destination is created or updated on that source through Segment's Config API,
holding an Emma API key minted for it.

Modules: `signing` (the OAuth state and the Emma app's links), `segment`
(Segment's OAuth server and Config API, through requests-oauthlib), `enabling`
(what to change on the destination, and the key it gets), `pages` (what the
browser is shown), `errors` (each failure and its page), `views` (the routes).
Only the routes of this flow import this package: its HTTP and OAuth libraries
stay out of the authorizer and of the event endpoint.
"""
