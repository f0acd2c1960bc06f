export interface VerifyStep {
  step: string;
  status: 'ok' | 'failed' | 'skipped';
  message: string;
  category?: string;
}
export interface VerifyResult {
  status: 'ok' | 'failed';
  failedStep?: string;
  upstream?: string;
  steps: VerifyStep[];
}

/** A verify answer, step by step (an ordered list: the steps run in this order). */
export function VerifySteps({ result, label }: { result: VerifyResult; label: string }) {
  return (
    <div class={`verify ${result.status}`}>
      <p>
        <strong>{result.status === 'ok' ? `${label}: every step passed` : `${label}: failed at ${result.failedStep ?? 'a step'}`}</strong>
      </p>
      <ol class="steps" aria-label={`${label} steps`}>
        {result.steps.map((s) => (
          <li key={s.step} class={`step ${s.status}`}>
            <span class="step-name">{s.step}</span> <span class={`badge ${s.status === 'ok' ? 'healthy' : s.status === 'failed' ? 'failing' : 'unknown'}`}>{s.status}</span>
            {s.category && <span class="category"> ({s.category})</span>} <span class="step-message">{s.message}</span>
          </li>
        ))}
      </ol>
    </div>
  );
}
