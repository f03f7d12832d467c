import fs from 'fs'
import path from 'path'
import type { DestinationDefinition } from '@segment/actions-core'
import { destinationDirs, generatedTypes } from './generate-types'

describe('generated types', () => {
  const dirs = destinationDirs()

  it('finds the destinations', () => {
    expect(dirs.map((dir) => path.basename(dir))).toEqual(['emma-email-marketing'])
  })

  it.each(dirs)('are what the fields of %s generate (npm run types)', async (dir) => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const destination = require(dir).default as DestinationDefinition<unknown>
    const files = await generatedTypes(destination, dir)

    expect(files.size).toBe(1 + Object.keys(destination.actions).length)
    for (const [file, text] of files) {
      expect({ file, text: fs.readFileSync(file, 'utf8') }).toEqual({ file, text })
    }
  })
})
