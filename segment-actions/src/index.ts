import destination from './destinations/emma-email-marketing'

export default destination
