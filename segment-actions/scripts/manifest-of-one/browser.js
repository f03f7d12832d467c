/** The browser manifest: no browser destination is under check. */
exports.manifest = {}
