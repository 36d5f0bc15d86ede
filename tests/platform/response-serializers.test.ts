import { describe, expect, it } from 'vitest';
import { loadContract } from '../../src/core/contract.js';
import { presentTaskDetail } from '../../src/domain/tasks/present.js';
import type { OperationId } from '../../src/http/operation.js';
import { createResponseSerializers } from '../../src/http/response-serializers.js';
import { assertMatchesContract } from '../helpers/contract.js';

// The compiled response serializers (src/http/response-serializers.ts) must write what
// JSON.stringify writes, parsed, for every body that matches the contract; the server's check mode
// (every environment but production) turns a body they would change into an error.

const contract = loadContract();
const doc = contract.document;
const serializers = createResponseSerializers(contract, { check: false });
const checked = createResponseSerializers(contract, { check: true });

const deref = (n: any): any => (n && typeof n.$ref === 'string' ? deref(n.$ref.slice(2).split('/').reduce((o: any, k: string) => o[k.replace(/~1/g, '/')], doc)) : n);

/** Every documented JSON success of every operation, with the examples the contract gives for it. */
const successes = [...contract.operations.values()].flatMap((info) =>
  Object.entries<any>(doc.paths[info.path][info.method.toLowerCase()].responses)
    .filter(([status]) => /^2\d\d$/.test(status) && status !== '204')
    .map(([status, response]) => {
      const media = deref(response).content?.['application/json'];
      const examples = Object.values<any>(media?.examples ?? {}).map((e) => deref(e).value);
      if (media?.example !== undefined) examples.push(media.example);
      return { info, status: Number(status), hasJson: media !== undefined, examples };
    }),
);

describe('response serializers compiled from the contract', () => {
  it('compile for the list and detail answers of tasks, and leave unions of objects to JSON.stringify', () => {
    expect(serializers('listTasks', 200)).toBeTypeOf('function');
    expect(serializers('getTask', 200)).toBeTypeOf('function');
    expect(serializers('createTask', 201)).toBeTypeOf('function');
    expect(serializers('updateTask', 200)).toBeUndefined(); // unlocked_achievements' perk is a oneOf of objects
    expect(serializers('getOpenApiYaml', 200)).toBeUndefined(); // not JSON
    expect(serializers('listTasks', 400)).toBeUndefined(); // error bodies: JSON.stringify
  });

  it("write every example of the contract's successes as JSON.stringify does (parsed), and valid against the contract", () => {
    let compared = 0;
    for (const { info, status, examples } of successes) {
      const serialize = serializers(info.operationId as OperationId, status);
      if (!serialize) continue;
      for (const example of examples) {
        const text = serialize(example);
        expect(JSON.parse(text), `${info.operationId} ${status}`).toEqual(JSON.parse(JSON.stringify(example)));
        const path = info.path.replace(/\{[^}]+\}/g, '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d');
        assertMatchesContract(info.method, path, status, 'application/json', JSON.parse(text));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(40);
  });

  it('write a task with nulls, dates and nested subtasks and reminders as JSON.stringify does', () => {
    const at = (s: string) => new Date(s);
    const base = { id: '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7d', user_id: '0193f19f-5a2b-7c3d-8e4f-5a6b7c8d9e0f', created_at: at('2026-01-19T10:30:00.123Z'), updated_at: at('2026-01-20T08:15:00.009Z') };
    const task = presentTaskDetail(
      { ...base, template_id: null, previous_instance_id: null, title: 'Quote " and \\ and \u2028 and ü and \u0001', description: '', priority: 'high', due_date: at('1970-01-01T00:00:00.000Z'), estimated_duration: null, focus_time_seconds: 0, completed: true, completed_at: at('9999-12-31T23:59:59.999Z'), completed_by: 'force', hidden: false, archived: false, version: 2147483647, subtask_count: 2, subtask_completed_count: 1 },
      [
        { ...base, task_id: base.id, title: 's1', completed: true, completed_at: at('2026-01-19T10:30:00.000Z'), order_index: 0, source: 'ai' },
        { ...base, task_id: base.id, title: 's2', completed: false, completed_at: null, order_index: 1, source: 'user' },
      ] as never,
      [{ ...base, task_id: base.id, type: 'absolute', offset_minutes: null, method: 'push', scheduled_at: at('2026-02-01T00:00:00.000Z'), fired: false, fired_at: null }] as never,
    );
    const body = { data: task };
    const text = checked('getTask', 200)!(body);
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(body)));
    assertMatchesContract('GET', `/tasks/${base.id}`, 200, 'application/json', JSON.parse(text));

    const nulls = { ...task, completed_by: null, completed_at: null, due_date: null, template_id: base.user_id };
    expect(JSON.parse(checked('getTask', 200)!({ data: nulls }))).toEqual(JSON.parse(JSON.stringify({ data: nulls })));
  });

  it('write a Date in a date-time field as toISOString() does', () => {
    const page = { data: [{ id: 'a', created_at: new Date('2026-03-04T05:06:07.089Z'), due_date: new Date(Date.UTC(10000, 0, 1)) }], pagination: { offset: 0, limit: 1, total: 1, has_more: false } };
    const parsed = JSON.parse(serializers('listTasks', 200)!(page));
    expect(parsed.data[0].created_at).toBe('2026-03-04T05:06:07.089Z');
    expect(parsed.data[0].due_date).toBe(new Date(Date.UTC(10000, 0, 1)).toISOString());
  });

  it('in check mode, refuse a body the serializer would change: a key the schema lacks, a value of another type', () => {
    const page = (task: Record<string, unknown>) => ({ data: [task], pagination: { offset: 0, limit: 25, total: 1, has_more: false } });
    const listed = checked('listTasks', 200)!;
    expect(() => listed(page({ id: 'a', secret: 'x' }))).toThrow(/listTasks 200/);
    expect(() => listed(page({ id: 'a', version: null }))).toThrow(/listTasks 200/); // would be written as 0
    expect(() => listed(page({ id: 'a', version: '3' }))).toThrow(/listTasks 200/); // would be written as 3
    expect(() => listed(page({ id: 'a', completed: 'yes' }))).toThrow(/listTasks 200/);
    expect(() => listed(page({ id: 'a', due_date: 5 }))).toThrow(); // fast-json-stringify's own error: no type of the list fits
    // Unchecked, the serializer drops and coerces silently: why the check exists.
    expect(JSON.parse(serializers('listTasks', 200)!(page({ id: 'a', secret: 'x', version: null }))).data[0]).toEqual({ id: 'a', version: 0 });
  });
});
