/** The cloud manifest, as packages/destination-actions/src/index.ts exports it, of the destination under check. */
const path = require('path')

const directory = process.env.DESTINATION_UNDER_CHECK
const entry = path.join(directory, 'index.ts')

exports.manifest = {
  [path.basename(directory)]: { definition: require(entry).default, directory: path.basename(directory), path: entry }
}
