export interface WebhookFieldIssue {
  field: string;
  message: string;
}

/** A webhook definition that is not valid; `issues` name the fields (problem JSON `errors`). */
export class WebhookValidationError extends Error {
  readonly code = 'WEBHOOK_INVALID';
  constructor(readonly issues: WebhookFieldIssue[]) {
    super(`invalid webhook: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`);
    this.name = 'WebhookValidationError';
  }
}
