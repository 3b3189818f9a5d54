import t from 'tap';
import { Backlog } from '../../src/quorum/backlog';

t.test('a backlog pauses its source past the limit and resumes it at half', async (t) => {
  const events: string[] = [];
  const b = new Backlog(100, () => events.push('pause'), () => events.push('resume'));
  b.added(60);
  b.added(40);
  t.same(events, [], 'at the limit: still reading');
  b.added(30);
  t.same(events, ['pause'], 'past it: paused');
  b.added(30);
  t.same(events, ['pause'], 'paused once only');
  b.done(60);
  t.same(events, ['pause'], '100 pending: still paused');
  b.done(50);
  t.same(events, ['pause', 'resume'], 'at half: resumed');
  t.equal(b.pendingBytes, 50);
  b.done(50);
  t.same(events, ['pause', 'resume'], 'resumed once only');
});
