/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Seeded test data for snapshot tests: a value for each of an action's fields and each of the
 * destination's settings, the same on every run. It has the signature of `generateTestData` in
 * segmentio/action-destinations (`packages/destination-actions/src/lib/test-data.ts`), which a
 * destination's `__tests__/snapshot.test.ts` imports from there.
 */
import type { ActionDefinition, DestinationDefinition, InputField } from '@segment/actions-core'
import Chance from 'chance'

export function generateTestData(
  seedName: string,
  destination: DestinationDefinition<any>,
  action: ActionDefinition<any>,
  isRequiredOnly: boolean
): [any, any] {
  const settingsData: Record<string, unknown> = {}
  for (const [name, field] of Object.entries(destination.authentication?.fields ?? {})) {
    settingsData[name] = valueFor(new Chance(`${seedName}#settings#${name}`), name, field as InputField)
  }

  const eventData: Record<string, unknown> = {}
  for (const [name, field] of Object.entries(action.fields)) {
    if (isRequiredOnly && !field.required) {
      continue
    }
    const value = valueFor(new Chance(`${seedName}#${name}`), name, field)
    eventData[name] = field.multiple ? [value] : value
  }
  return [eventData, settingsData]
}

function valueFor(chance: Chance.Chance, name: string, field: InputField): unknown {
  if (Array.isArray(field.choices) && field.choices.length > 0) {
    const choice = chance.pickone(field.choices as unknown[])
    return typeof choice === 'object' && choice !== null ? (choice as { value: unknown }).value : choice
  }
  if (field.properties) {
    const properties = Object.entries(field.properties).map(([key, property]) => [
      key,
      valueFor(chance, key, property as InputField)
    ])
    return Object.fromEntries(properties)
  }
  switch (field.type) {
    case 'boolean':
      return chance.bool()
    case 'integer':
      return chance.integer({ min: field.minimum ?? 0, max: field.maximum ?? 1000 })
    case 'number':
      return chance.floating({ min: field.minimum ?? 0, max: field.maximum ?? 1000, fixed: 2 })
    case 'datetime':
      return (chance.date({ year: 2026 }) as Date).toISOString()
    case 'object':
      return { type: 'track', event: chance.word(), messageId: chance.guid(), userId: chance.guid() }
    default:
      return stringFor(chance, name, field)
  }
}

function stringFor(chance: Chance.Chance, name: string, field: InputField): string {
  if (field.format === 'uri') return chance.url({ protocol: 'https' })
  if (field.format === 'email' || name === 'email') return chance.email()
  if (field.format === 'date-time') return (chance.date({ year: 2026 }) as Date).toISOString()
  if (field.format === 'uuid') return chance.guid()
  return chance.string({ alpha: true, numeric: true, length: 12 })
}
