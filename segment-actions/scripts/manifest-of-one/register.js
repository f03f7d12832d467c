/**
 * Preloaded (node --require) into segmentio/action-destinations' CLI, so that its manifest holds
 * the one destination under check, DESTINATION_UNDER_CHECK (its folder in the checkout).
 *
 * The CLI's `validate` and `generate:metadata-payload` read the manifest of every destination,
 * which loads each one's dependencies; they are not all installable here, and a new destination
 * is not in the manifest until Segment registers it.
 */
const Module = require('module')
const path = require('path')

const destinationsSrc = path.resolve(process.env.DESTINATION_UNDER_CHECK, '../..')
const replacements = new Map([
  ['@segment/action-destinations', path.join(__dirname, 'cloud.js')],
  [destinationsSrc, path.join(__dirname, 'cloud.js')],
  ['@segment/destinations-manifest', path.join(__dirname, 'browser.js')]
])

const resolveFilename = Module._resolveFilename
Module._resolveFilename = function (request, ...rest) {
  return replacements.get(request) || resolveFilename.call(this, request, ...rest)
}
