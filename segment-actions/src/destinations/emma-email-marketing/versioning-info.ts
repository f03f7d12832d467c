/**
 * The version of Emma's event API that this destination's endpoints use (/v1/segment, /v1/batch, /v1/me).
 * Update it when moving to a new version of the API.
 */
export const EMMA_API_VERSION = 'v1'
