import {
  APIError,
  InvalidAuthenticationError,
  MultiStatusResponse,
  JSONLikeObject,
  ModifiedResponse,
  RequestClient
} from '@segment/actions-core'
import type { Settings } from './generated-types'
import { EMMA_API_VERSION } from './versioning-info'

export const DEFAULT_ENDPOINT = 'https://events.e2ma.net'

// What Emma's /v1/batch accepts: a larger body or more events are refused whole with a 413.
export const MAX_BATCH_BODY_BYTES = 500 * 1024
export const MAX_BATCH_EVENTS = 2500
const ENVELOPE_BYTES = '{"batch":[]}'.length

interface EmmaError {
  message?: unknown
}

interface BatchAnswer {
  accepted?: unknown
  rejected?: unknown
}

type EventData = Record<string, unknown>

interface RejectedEvent {
  index: number
  status: number
  message?: unknown
}

export function endpointUrl(settings: Settings, path: string): string {
  const base = settings.endpoint || DEFAULT_ENDPOINT
  return base.replace(/\/+$/, '') + path
}

/**
 * Throws for an answer other than 2xx, with Emma's own message and status, so that Segment
 * retries what Emma asks to retry (429, 5xx) and drops what never succeeds (other 4xx, 501).
 */
export function throwForStatus<T>(response: ModifiedResponse<T>): void {
  if (response.ok) {
    return
  }
  const message = emmaMessage(response)
  if (response.status === 401) {
    throw new InvalidAuthenticationError(`Emma does not know this API key: ${message}`)
  }
  throw new APIError(`Emma answered ${response.status}: ${message}`, response.status)
}

/**
 * Posts events to /v1/batch, each request within Emma's limits, and reports each event's outcome.
 *
 * Segment keeps batches under the action's `batch_bytes` by its own measure of an event; the
 * limit that matters is the request body's, so it is checked here. `json:` serializes the body as
 * JSON.stringify does, so the bytes measured per event are the bytes sent.
 */
export async function sendBatch(
  request: RequestClient,
  settings: Settings,
  events: EventData[]
): Promise<MultiStatusResponse> {
  const outcomes = new MultiStatusResponse()
  const serialized = events.map((event) => JSON.stringify(event))
  for (const [start, end] of bodiesWithin(serialized, MAX_BATCH_BODY_BYTES, MAX_BATCH_EVENTS)) {
    const response = await request<BatchAnswer & EmmaError>(endpointUrl(settings, `/${EMMA_API_VERSION}/batch`), {
      method: 'POST',
      json: { batch: events.slice(start, end) },
      throwHttpErrors: false
    })
    recordOutcomes(outcomes, response, events, start, end)
  }
  return outcomes
}

/**
 * [start, end) ranges of the events whose `{"batch":[...]}` body stays within the limits, in order.
 * An event too large for any body goes alone, and Emma refuses it as it would alone.
 */
export function bodiesWithin(serialized: string[], maxBytes: number, maxEvents: number): [number, number][] {
  const ranges: [number, number][] = []
  let start = 0
  let bytes = ENVELOPE_BYTES
  for (let index = 0; index < serialized.length; index++) {
    const eventBytes = Buffer.byteLength(serialized[index], 'utf8')
    if (index > start && (bytes + 1 + eventBytes > maxBytes || index - start === maxEvents)) {
      ranges.push([start, index])
      start = index
      bytes = ENVELOPE_BYTES
    }
    bytes += (index > start ? 1 : 0) + eventBytes
  }
  if (serialized.length > start) {
    ranges.push([start, serialized.length])
  }
  return ranges
}

function recordOutcomes(
  outcomes: MultiStatusResponse,
  response: ModifiedResponse<BatchAnswer & EmmaError>,
  events: EventData[],
  start: number,
  end: number
): void {
  if (!response.ok) {
    // Nothing in the answer is about single events: each one shares the batch's status.
    const errormessage = `Emma answered ${response.status}: ${emmaMessage(response)}`
    for (let index = start; index < end; index++) {
      outcomes.setErrorResponseAtIndex(index, {
        status: response.status,
        errormessage,
        sent: events[index] as JSONLikeObject
      })
    }
    return
  }
  for (let index = start; index < end; index++) {
    outcomes.setSuccessResponseAtIndex(index, {
      status: response.status,
      sent: events[index] as JSONLikeObject,
      body: 'accepted'
    })
  }
  for (const rejected of rejectedEvents(response.data, end - start)) {
    outcomes.setErrorResponseAtIndex(start + rejected.index, {
      status: rejected.status,
      errormessage: typeof rejected.message === 'string' ? rejected.message : `Emma refused the event`,
      sent: events[start + rejected.index] as JSONLikeObject,
      body: rejected as unknown as JSONLikeObject
    })
  }
}

/** The well-formed entries of the answer's `rejected`, for events of this request. */
function rejectedEvents(answer: BatchAnswer | undefined, count: number): RejectedEvent[] {
  const rejected = answer && Array.isArray(answer.rejected) ? (answer.rejected as unknown[]) : []
  return rejected.filter((entry): entry is RejectedEvent => {
    const { index, status } = (entry ?? {}) as Partial<RejectedEvent>
    const inBatch = Number.isInteger(index) && (index as number) >= 0 && (index as number) < count
    return inBatch && Number.isInteger(status) && (status as number) >= 400
  })
}

function emmaMessage<T>(response: ModifiedResponse<T>): string {
  const data = response.data as EmmaError | undefined
  if (data && typeof data.message === 'string') {
    return data.message
  }
  return response.statusText || 'no message'
}
