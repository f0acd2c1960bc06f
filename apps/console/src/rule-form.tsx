import { useState } from 'preact/hooks';
import { api, ApiProblem, seg } from './api';
import { Field, ProblemBox } from './ui';

export interface CacheRule {
  name: string;
  sourceRepository: string;
  targetRepository: string;
  credentialSetName?: string;
  platforms?: 'pulled' | 'all' | string[];
  tagFreshnessSeconds?: number;
  upstreamTagNotFound?: 'report-missing' | 'serve-local';
  anonymousPull?: boolean;
  allowPush?: boolean;
  [other: string]: unknown;
}

/** The form's fields (strings, as typed); the API validates, the form only shapes the body. */
const FIELDS = ['name', 'sourceRepository', 'targetRepository', 'credentialSetName', 'platforms', 'tagFreshnessSeconds', 'upstreamTagNotFound', 'anonymousPull', 'allowPush'] as const;
type FormField = (typeof FIELDS)[number];
type Values = Record<FormField, string>;

function valuesOf(rule?: CacheRule): Values {
  const platforms = rule?.platforms;
  return {
    name: rule?.name ?? '',
    sourceRepository: rule?.sourceRepository ?? '',
    targetRepository: rule?.targetRepository ?? '',
    credentialSetName: rule?.credentialSetName ?? '',
    platforms: Array.isArray(platforms) ? platforms.join(', ') : (platforms ?? ''),
    tagFreshnessSeconds: rule?.tagFreshnessSeconds === undefined ? '' : String(rule.tagFreshnessSeconds),
    upstreamTagNotFound: rule?.upstreamTagNotFound ?? '',
    anonymousPull: rule?.anonymousPull === undefined ? '' : String(rule.anonymousPull),
    allowPush: rule?.allowPush === true ? 'true' : '',
  };
}

/** The PUT body: the stored rule's other fields (allow, fallbackRegistries, retention...) kept, the form's on top. */
function bodyOf(values: Values, existing?: CacheRule): Record<string, unknown> {
  const body: Record<string, unknown> = { ...(existing ?? {}) };
  for (const f of ['credentialSetName', 'platforms', 'tagFreshnessSeconds', 'upstreamTagNotFound', 'anonymousPull', 'allowPush'] as const) delete body[f];
  body.sourceRepository = values.sourceRepository.trim();
  body.targetRepository = values.targetRepository.trim();
  if (values.credentialSetName.trim()) body.credentialSetName = values.credentialSetName.trim();
  const p = values.platforms.trim();
  if (p) body.platforms = p === 'pulled' || p === 'all' ? p : p.split(/[\s,]+/).filter(Boolean);
  // A number when it reads as one; otherwise the text as typed, so the API's message says what is wrong.
  const f = values.tagFreshnessSeconds.trim();
  if (f) body.tagFreshnessSeconds = /^-?\d+(\.\d+)?$/.test(f) ? Number(f) : f;
  if (values.upstreamTagNotFound) body.upstreamTagNotFound = values.upstreamTagNotFound;
  if (values.anonymousPull) body.anonymousPull = values.anonymousPull === 'true';
  if (values.allowPush) body.allowPush = true;
  return body;
}

/** `platforms[1]` and `platforms` are both the platforms field; `retention.maxTags` has no field here. */
function fieldOf(issueField: string): FormField | undefined {
  const head = issueField.split(/[.[]/)[0] as FormField;
  return (FIELDS as readonly string[]).includes(head) ? head : undefined;
}

/** Create or edit one cache rule; the API's field-level messages are shown at their field. */
export function RuleForm(props: { existing?: CacheRule; credentialSets?: string[]; onSaved: (rule: CacheRule, created: boolean) => void; onCancel: () => void }) {
  const [values, setValues] = useState<Values>(valuesOf(props.existing));
  const [problem, setProblem] = useState<ApiProblem | undefined>(undefined);
  const [saving, setSaving] = useState(false);
  const set = (f: FormField) => (e: Event) => setValues({ ...values, [f]: (e.currentTarget as HTMLInputElement).value });
  const errorAt = (f: FormField) => problem?.errors.filter((e) => fieldOf(e.field) === f).map((e) => e.message).join('; ') || undefined;
  const unplaced = problem ? new ApiProblem(problem.status, problem.title, problem.detail, problem.errors.filter((e) => fieldOf(e.field) === undefined)) : undefined;
  const editing = props.existing !== undefined;

  const submit = async (e: Event) => {
    e.preventDefault();
    setSaving(true);
    try {
      const name = values.name.trim();
      if (!name) throw new ApiProblem(422, 'Unprocessable Entity', 'the cache rule is not valid', [{ field: 'name', message: 'is required' }]);
      const rule = await api<CacheRule>('PUT', `/cache-rules/${seg(name)}`, bodyOf(values, props.existing));
      setProblem(undefined);
      props.onSaved(rule, !editing);
    } catch (err) {
      setProblem(err instanceof ApiProblem ? err : new ApiProblem(0, 'Something went wrong', String(err)));
    } finally {
      setSaving(false);
    }
  };

  const id = (f: FormField) => `rule-${f}`;
  return (
    <form class="card" onSubmit={submit} aria-labelledby="rule-form-title" noValidate>
      <h3 id="rule-form-title">{editing ? `Edit cache rule ${props.existing!.name}` : 'New cache rule'}</h3>
      <div class="grid">
        <Field id={id('name')} label="Name" hint="5-50 letters, digits and -" error={errorAt('name')}>
          {(a) => <input {...a} value={values.name} onInput={set('name')} readOnly={editing} autoComplete="off" />}
        </Field>
        <Field id={id('sourceRepository')} label="Source repository (upstream)" hint="e.g. docker.io/library/* or quay.io/org/app" error={errorAt('sourceRepository')}>
          {(a) => <input {...a} value={values.sourceRepository} onInput={set('sourceRepository')} autoComplete="off" />}
        </Field>
        <Field id={id('targetRepository')} label="Target repository (here)" hint="e.g. dockerhub/library/*" error={errorAt('targetRepository')}>
          {(a) => <input {...a} value={values.targetRepository} onInput={set('targetRepository')} autoComplete="off" />}
        </Field>
        <Field id={id('credentialSetName')} label="Credential set" hint="empty: anonymous upstream access" error={errorAt('credentialSetName')}>
          {(a) => <input {...a} list="rule-credential-sets" value={values.credentialSetName} onInput={set('credentialSetName')} autoComplete="off" />}
        </Field>
        <Field id={id('platforms')} label="Platforms" hint="pulled (default), all, or linux/amd64, linux/arm64" error={errorAt('platforms')}>
          {(a) => <input {...a} value={values.platforms} onInput={set('platforms')} autoComplete="off" />}
        </Field>
        <Field id={id('tagFreshnessSeconds')} label="Tag freshness (seconds)" hint="empty: the cache's default; 0: always revalidate" error={errorAt('tagFreshnessSeconds')}>
          {(a) => <input {...a} inputMode="numeric" value={values.tagFreshnessSeconds} onInput={set('tagFreshnessSeconds')} autoComplete="off" />}
        </Field>
        <Field id={id('upstreamTagNotFound')} label="When the upstream lacks a cached tag" error={errorAt('upstreamTagNotFound')}>
          {(a) => (
            <select {...a} value={values.upstreamTagNotFound} onChange={set('upstreamTagNotFound')}>
              <option value="">default (report-missing)</option>
              <option value="report-missing">report-missing: answer 404</option>
              <option value="serve-local">serve-local: keep serving the local copy</option>
            </select>
          )}
        </Field>
        <Field id={id('anonymousPull')} label="Anonymous pull" error={errorAt('anonymousPull')}>
          {(a) => (
            <select {...a} value={values.anonymousPull} onChange={set('anonymousPull')}>
              <option value="">default (yes without a credential set, no with one)</option>
              <option value="true">yes</option>
              <option value="false">no</option>
            </select>
          )}
        </Field>
        <Field id={id('allowPush')} label="Allow push" error={errorAt('allowPush')}>
          {(a) => (
            <select {...a} value={values.allowPush} onChange={set('allowPush')}>
              <option value="">no</option>
              <option value="true">yes</option>
            </select>
          )}
        </Field>
      </div>
      <datalist id="rule-credential-sets">
        {props.credentialSets?.map((n) => (
          <option key={n} value={n} />
        ))}
      </datalist>
      {unplaced && (unplaced.errors.length > 0 || !problem?.errors.length) && <ProblemBox problem={unplaced} />}
      {problem && problem.errors.length > 0 && unplaced?.errors.length === 0 && (
        <p class="field-summary" role="alert">
          The cache rule is not valid: see the highlighted fields.
        </p>
      )}
      <div class="actions">
        <button type="submit" disabled={saving}>
          {editing ? 'Save changes' : 'Create rule'}
        </button>
        <button type="button" class="secondary" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
