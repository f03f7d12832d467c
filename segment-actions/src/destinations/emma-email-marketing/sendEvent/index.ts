import type { ActionDefinition } from '@segment/actions-core'
import type { Settings } from '../generated-types'
import type { Payload } from './generated-types'
import { endpointUrl, sendBatch, throwForStatus } from '../api'
import { EMMA_API_VERSION } from '../versioning-info'

const action: ActionDefinition<Settings, Payload> = {
  title: 'Send Event',
  description: 'Send the whole Segment event to Emma, which adds it to the account of the API key.',
  defaultSubscription:
    'type = "identify" or type = "track" or type = "page" or type = "screen" or type = "group" or type = "alias"',
  fields: {
    data: {
      label: 'Event',
      description: 'The Segment event, as Segment received it. Emma reads the fields of the Segment Spec.',
      type: 'object',
      required: true,
      default: { '@path': '$.' },
      unsafe_hidden: true
    },
    enable_batching: {
      label: 'Send in Batches',
      description: 'Enable batching of requests. Events may wait up to a minute before Emma receives them.',
      type: 'boolean',
      required: false,
      default: true
    },
    batch_size: {
      label: 'Batch Size',
      description: 'Maximum number of events to include in each batch. Actual batch sizes may be lower.',
      type: 'number',
      required: false,
      default: 500,
      minimum: 1,
      maximum: 2500,
      readOnly: true,
      unsafe_hidden: true
    },
    batch_bytes: {
      label: 'Batch Bytes',
      description: 'Maximum batch payload size in bytes. Emma accepts batches of up to 500 KiB.',
      type: 'number',
      required: false,
      default: 400000,
      readOnly: true,
      unsafe_hidden: true
    }
  },
  perform: async (request, { settings, payload }) => {
    const response = await request(endpointUrl(settings, `/${EMMA_API_VERSION}/segment`), {
      method: 'POST',
      json: payload.data,
      throwHttpErrors: false
    })
    throwForStatus(response)
    return response
  },
  performBatch: (request, { settings, payload }) => {
    return sendBatch(
      request,
      settings,
      payload.map(({ data }) => data)
    )
  }
}

export default action
