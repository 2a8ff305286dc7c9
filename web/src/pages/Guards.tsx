import { useMemo, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import type { ProjectContext } from '../App';
import { describeError, type Problem } from '../errors';
import { graphql } from '../gql';
import { formProblems, Problems, Row } from '../ui';

const GuardRulesDoc = graphql(`
  query GuardRules($projectId: ID!) {
    guardRules(projectId: $projectId) {
      id
      name
      pattern
      severity
      approverRole
      description
      enabled
      builtIn
    }
  }
`);

const CheckCommandDoc = graphql(`
  query CheckCommand($projectId: ID!, $text: String!) {
    checkCommand(projectId: $projectId, text: $text) {
      ruleId
      ruleName
      severity
      approverRole
      field
      excerpt
    }
  }
`);

const CreateGuardRuleDoc = graphql(`
  mutation CreateGuardRule($input: CreateGuardRuleInput!) {
    createGuardRule(input: $input) {
      rule {
        id
      }
    }
  }
`);

const UpdateGuardRuleDoc = graphql(`
  mutation UpdateGuardRule($input: UpdateGuardRuleInput!) {
    updateGuardRule(input: $input) {
      rule {
        id
        name
        pattern
        severity
        approverRole
        description
        enabled
      }
    }
  }
`);

const DeleteGuardRuleDoc = graphql(`
  mutation DeleteGuardRule($input: DeleteGuardRuleInput!) {
    deleteGuardRule(input: $input) {
      deletedId
    }
  }
`);

const SetGuardRuleEnabledDoc = graphql(`
  mutation SetGuardRuleEnabled($input: SetGuardRuleEnabledInput!) {
    setGuardRuleEnabled(input: $input) {
      rule {
        id
        enabled
      }
    }
  }
`);

type Draft = { id?: string; name: string; pattern: string; severity: 'BLOCK' | 'APPROVE'; approverRole: string; description: string };
const blank: Draft = { name: '', pattern: '', severity: 'BLOCK', approverRole: '', description: '' };

export function GuardsPage({ projectId, perms }: ProjectContext) {
  const context = useMemo(() => ({ additionalTypenames: ['GuardRule'] }), []);
  const [{ data, error }] = useQuery({ query: GuardRulesDoc, variables: { projectId }, context });
  const [text, setText] = useState('');
  const [tried, setTried] = useState('');
  const [{ data: check, error: checkError }] = useQuery({ query: CheckCommandDoc, variables: { projectId, text: tried }, pause: !tried });
  const [draft, setDraft] = useState<Draft>();
  const [{ error: createError }, create] = useMutation(CreateGuardRuleDoc);
  const [{ error: updateError }, update] = useMutation(UpdateGuardRuleDoc);
  const [{ error: deleteError }, del] = useMutation(DeleteGuardRuleDoc);
  const [{ error: enableError }, setEnabled] = useMutation(SetGuardRuleEnabledDoc);
  const canWrite = perms.can('GUARD_WRITE');
  const { at, rest } = formProblems(draft?.id ? updateError : createError, {}, ['name', 'pattern', 'severity', 'approverRole', 'description']);
  return (
    <section>
      <h1>Command guard rules</h1>
      <p className="hint">
        Every string of a run’s step parameters and parameter values is checked against the enabled rules before the run starts: a block rule refuses the run, an approve rule makes it wait for an
        approval.
      </p>
      <form
        className="card"
        data-testid="guard-tester"
        onSubmit={(e) => {
          e.preventDefault();
          setTried(text);
        }}
      >
        <Row label="Try a command" hint="which rules would match it">
          <input className="mono" name="guard-text" value={text} onChange={(e) => setText(e.target.value)} placeholder="rm -rf /" />
        </Row>
        <button type="submit" disabled={!text}>
          Check
        </button>
        <Problems problems={describeError(checkError)} />
        {tried && check && (
          <div data-testid="guard-matches">
            {check.checkCommand.length === 0 ? (
              <p className="ok">No rule matches: a run with this command would start.</p>
            ) : (
              check.checkCommand.map((m, i) => (
                <p key={i} className={m.severity === 'BLOCK' ? 'problems' : 'warning'} data-rule={m.ruleName}>
                  {m.severity === 'BLOCK' ? 'Blocked' : `Needs an approval by the role ${m.approverRole ?? 'owner'}`}: rule <strong>{m.ruleName}</strong> matches “{m.excerpt}”.
                </p>
              ))
            )}
          </div>
        )}
      </form>
      <Problems problems={describeError(error ?? deleteError ?? enableError)} />
      <table className="list" data-testid="guard-rules">
        <thead>
          <tr>
            <th>Enabled</th>
            <th>Name</th>
            <th>Severity</th>
            <th>Pattern</th>
            <th>Description</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.guardRules.map((r) => (
            <tr key={r.id} data-rule={r.name}>
              <td>
                <input type="checkbox" checked={r.enabled} disabled={!canWrite} onChange={(e) => setEnabled({ input: { projectId, rule: r.id, enabled: e.target.checked } })} />
              </td>
              <td>
                {r.name} {r.builtIn && <small className="hint">built-in</small>}
              </td>
              <td>{r.severity === 'BLOCK' ? 'block' : `approve (${r.approverRole ?? 'owner'})`}</td>
              <td>
                <code className="pattern">{r.pattern}</code>
              </td>
              <td>{r.description}</td>
              <td>
                {canWrite && !r.builtIn && (
                  <>
                    <button className="small" onClick={() => setDraft({ id: r.id, name: r.name, pattern: r.pattern, severity: r.severity, approverRole: r.approverRole ?? '', description: r.description })}>
                      Edit
                    </button>
                    <button className="small danger" onClick={() => window.confirm(`Delete the rule ${r.name}?`) && del({ input: { id: r.id } })}>
                      Delete
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {canWrite && !draft && (
        <button data-testid="new-rule" onClick={() => setDraft(blank)}>
          New rule
        </button>
      )}
      {draft && (
        <form
          className="card"
          data-testid="rule-form"
          onSubmit={async (e) => {
            e.preventDefault();
            const fields = { name: draft.name, pattern: draft.pattern, severity: draft.severity, approverRole: draft.severity === 'APPROVE' ? draft.approverRole || undefined : undefined, description: draft.description };
            const r = draft.id ? await update({ input: { id: draft.id, ...fields } }) : await create({ input: { projectId, ...fields } });
            if (r.data) setDraft(undefined);
          }}
        >
          <h2>{draft.id ? `Edit ${draft.name}` : 'New rule'}</h2>
          <div className="grid2">
            <Row label="Name" error={at.name}>
              <input name="rule-name" value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} />
            </Row>
            <Row label="Severity" error={at.severity}>
              <select name="rule-severity" value={draft.severity} onChange={(e) => setDraft({ ...draft, severity: e.target.value as Draft['severity'] })}>
                <option value="BLOCK">block the run</option>
                <option value="APPROVE">wait for an approval</option>
              </select>
            </Row>
          </div>
          <Row label="Pattern" hint="a Go (RE2) regular expression" error={at.pattern}>
            <input className="mono" name="rule-pattern" value={draft.pattern} onChange={(e) => setDraft({ ...draft, pattern: e.target.value })} />
          </Row>
          {draft.severity === 'APPROVE' && (
            <Row label="Approver role" hint="default owner" error={at.approverRole}>
              <input name="rule-role" value={draft.approverRole} onChange={(e) => setDraft({ ...draft, approverRole: e.target.value })} />
            </Row>
          )}
          <Row label="Description" error={at.description}>
            <input name="rule-description" value={draft.description} onChange={(e) => setDraft({ ...draft, description: e.target.value })} />
          </Row>
          <Problems problems={rest} />
          <button type="submit">{draft.id ? 'Save' : 'Create'}</button>
          <button type="button" className="secondary" onClick={() => setDraft(undefined)}>
            Cancel
          </button>
        </form>
      )}
    </section>
  );
}

/**
 * Next to a launch button: when a command guard rule refused the run, the
 * rule in plain words (its description and pattern), from the project's rules.
 */
export function GuardExplained({ projectId, problems }: { projectId: string; problems: Problem[] }) {
  const rule = problems.find((p) => p.rule)?.rule;
  const [{ data }] = useQuery({ query: GuardRulesDoc, variables: { projectId }, pause: !rule });
  if (!rule) return null;
  const r = data?.guardRules.find((x) => x.name === rule);
  return (
    <div className="problems guard" role="alert" data-testid="guard-blocked" data-rule={rule}>
      {problems
        .filter((p) => p.rule)
        .map((p, i) => (
          <p key={i}>{p.text}</p>
        ))}
      {r && (
        <p>
          The rule refuses {r.description || 'what matches its pattern'} (pattern <code>{r.pattern}</code>).
        </p>
      )}
    </div>
  );
}
