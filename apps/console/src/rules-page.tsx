import { useState } from 'preact/hooks';
import { api, seg } from './api';
import { RuleForm, type CacheRule } from './rule-form';
import { ColumnHeads, ProblemBox, Status, useLoad } from './ui';

/** Cache rules: list, create, edit, delete. */
export function RulesPage() {
  const rules = useLoad(() => api<{ cacheRules: CacheRule[] }>('GET', '/cache-rules'));
  // Offered as choices in the form (a reader may list them; failing to is not the page's problem).
  const sets = useLoad(() => api<{ credentialSets: { name: string }[] }>('GET', '/credential-sets').catch(() => ({ credentialSets: [] })));
  const [editing, setEditing] = useState<CacheRule | 'new' | undefined>(undefined);
  const [deleting, setDeleting] = useState<string | undefined>(undefined);
  const [problem, setProblem] = useState<unknown>(undefined);
  const [status, setStatus] = useState('');

  const remove = async (name: string) => {
    try {
      await api('DELETE', `/cache-rules/${seg(name)}`);
      setProblem(undefined);
      setStatus(`Deleted cache rule ${name}.`);
      rules.reload();
    } catch (err) {
      setProblem(err);
    } finally {
      setDeleting(undefined);
    }
  };

  return (
    <section aria-labelledby="rules-title">
      <div class="page-head">
        <h2 id="rules-title">Cache rules</h2>
        {editing === undefined && (
          <button type="button" onClick={() => setEditing('new')}>
            New rule
          </button>
        )}
      </div>
      {editing !== undefined && (
        <RuleForm
          existing={editing === 'new' ? undefined : editing}
          credentialSets={sets.data?.credentialSets.map((s) => s.name)}
          onCancel={() => setEditing(undefined)}
          onSaved={(rule, created) => {
            setEditing(undefined);
            setStatus(`${created ? 'Created' : 'Saved'} cache rule ${rule.name}.`);
            rules.reload();
          }}
        />
      )}
      <Status>{status}</Status>
      <ProblemBox problem={problem ?? rules.problem} />
      {rules.data && rules.data.cacheRules.length === 0 && <p>No cache rules yet.</p>}
      {rules.data && rules.data.cacheRules.length > 0 && (
        <div class="table-wrap">
          <table aria-label="Cache rules">
            <ColumnHeads names={['Name', 'Source (upstream)', 'Target (here)', 'Credential set', 'Platforms', 'Actions']} />
            <tbody>
              {rules.data.cacheRules.map((r) => (
                <tr key={r.name}>
                  <th scope="row">{r.name}</th>
                  <td>
                    <code>{r.sourceRepository}</code>
                  </td>
                  <td>
                    <code>{r.targetRepository}</code>
                  </td>
                  <td>{r.credentialSetName ?? '—'}</td>
                  <td>{Array.isArray(r.platforms) ? r.platforms.join(', ') : (r.platforms ?? 'pulled')}</td>
                  <td class="row-actions">
                    {deleting === r.name ? (
                      <>
                        <button type="button" class="danger" onClick={() => remove(r.name)}>
                          Confirm delete {r.name}
                        </button>
                        <button type="button" class="secondary" onClick={() => setDeleting(undefined)}>
                          Keep
                        </button>
                      </>
                    ) : (
                      <>
                        <button type="button" class="secondary" aria-label={`Edit ${r.name}`} onClick={() => setEditing(r)}>
                          Edit
                        </button>
                        <button type="button" class="secondary" aria-label={`Delete ${r.name}`} onClick={() => setDeleting(r.name)}>
                          Delete
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
