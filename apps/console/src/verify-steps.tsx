import { useState } from 'preact/hooks';
import { api } from './api';
import { ProblemBox } from './ui';

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

/**
 * A verify button for one object (`path`: its `/verify` endpoint): the steps it answers, announced
 * politely, or the problem; `onVerified` runs after an answer (e.g. to reload the object's health).
 */
export function VerifyAction(props: { path: string; name: string; text: string; secondary?: boolean; onVerified?: () => void }) {
  const [result, setResult] = useState<VerifyResult | undefined>(undefined);
  const [problem, setProblem] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const verify = async () => {
    setBusy(true);
    setResult(undefined);
    try {
      setResult(await api<VerifyResult>('POST', props.path));
      setProblem(undefined);
      props.onVerified?.();
    } catch (err) {
      setProblem(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" class={props.secondary ? 'secondary' : undefined} onClick={verify} disabled={busy} aria-label={`Verify ${props.name}`}>
        {busy ? 'Verifying…' : props.text}
      </button>
      <div aria-live="polite">{result && <VerifySteps result={result} label={`Verify ${props.name}`} />}</div>
      <ProblemBox problem={problem} />
    </>
  );
}
