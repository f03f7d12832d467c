// Generated file. DO NOT MODIFY IT BY HAND.

export interface Payload {
  /**
   * The Segment event, as Segment received it. Emma reads the fields of the Segment Spec.
   */
  data: {
    [k: string]: unknown
  }
  /**
   * Enable batching of requests. Events may wait up to a minute before Emma receives them.
   */
  enable_batching?: boolean
  /**
   * Maximum number of events to include in each batch. Actual batch sizes may be lower.
   */
  batch_size?: number
  /**
   * Maximum batch payload size in bytes. Emma accepts batches of up to 500 KiB.
   */
  batch_bytes?: number
}
