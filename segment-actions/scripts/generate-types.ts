/**
 * Writes `generated-types.ts` beside each destination and each of its actions, from their fields,
 * as `./bin/run generate:types` does in segmentio/action-destinations: actions-core's
 * `fieldsToJsonSchema`, then json-schema-to-typescript, formatted with this package's prettier settings.
 *
 *   npm run types
 */
import { fieldsToJsonSchema } from '@segment/actions-core'
import type { DestinationDefinition, GlobalSetting, InputField } from '@segment/actions-core'
import type { JSONSchema4 } from 'json-schema'
import { compile } from 'json-schema-to-typescript'
import fs from 'fs'
import path from 'path'
import prettier from 'prettier'

const BANNER = '// Generated file. DO NOT MODIFY IT BY HAND.'
export const DESTINATIONS_DIR = path.resolve(__dirname, '..', 'src', 'destinations')

/** Each generated file of the destination in `dir`, by path, with the text it should hold. */
export async function generatedTypes(
  destination: DestinationDefinition<unknown>,
  dir: string
): Promise<Map<string, string>> {
  const files = new Map<string, string>()
  files.set(path.join(dir, 'generated-types.ts'), await typesOf(destination.authentication?.fields ?? {}, 'Settings'))
  for (const [slug, action] of Object.entries(destination.actions)) {
    files.set(path.join(dir, slug, 'generated-types.ts'), await typesOf(action.fields, 'Payload'))
  }
  return files
}

/** The directory of every destination in this package. */
export function destinationDirs(): string[] {
  return fs
    .readdirSync(DESTINATIONS_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => path.join(DESTINATIONS_DIR, entry.name))
}

async function typesOf(fields: Record<string, InputField | GlobalSetting>, name: string): Promise<string> {
  const style = prettier.resolveConfig.sync(path.resolve(__dirname, '..', 'package.json')) ?? undefined
  return compile(withoutExtras(fieldsToJsonSchema(fields, { tsType: true })), name, { bannerComment: BANNER, style })
}

// Titles and enums would only add noise to the declarations.
function withoutExtras(schema: JSONSchema4): JSONSchema4 {
  const copy = { ...schema }
  delete copy.title
  delete copy.enum
  if (copy.type === 'object' && copy.properties) {
    copy.properties = Object.fromEntries(
      Object.entries(copy.properties).map(([key, property]) => [key, withoutExtras(property)])
    )
  } else if (copy.type === 'array' && copy.items && !Array.isArray(copy.items)) {
    copy.items = withoutExtras(copy.items)
  }
  return copy
}

async function main(): Promise<void> {
  for (const dir of destinationDirs()) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const destination = require(dir).default as DestinationDefinition<unknown>
    for (const [file, text] of await generatedTypes(destination, dir)) {
      fs.writeFileSync(file, text)
      console.log(`wrote ${path.relative(process.cwd(), file)}`)
    }
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
