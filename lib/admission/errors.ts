import { ImagegateError } from '../errors';

/** A request body that is not a usable AdmissionReview; answered with HTTP 400. */
export class AdmissionDecodeError extends ImagegateError<'INVALID_ADMISSION_REVIEW'> {}
