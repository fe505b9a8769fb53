import { forwardingLimitScenarios } from '@hadb/testkit';
import { localNodes } from './local-nodes.js';

// The forwarding server's limits are node options: passed to the node's server and checked at
// `open` with a typed error.
const { node } = localNodes('fwd-limits');

forwardingLimitScenarios({
  engine: 'haduck',
  invalidConfigCode: 'HADB_HADUCK_INVALID_CONFIG',
  open: (forwarding) => node('a', { forwarding }),
});
