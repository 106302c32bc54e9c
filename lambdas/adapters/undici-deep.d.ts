/**
 * Types of the two undici modules lambdas/adapters/http.ts imports directly (undici ships types for its
 * package root only): the Agent class, and the Dispatcher API methods undici's root attaches to every dispatcher.
 */
declare module 'undici/lib/dispatcher/agent.js' {
  import type { Agent } from 'undici';

  const AgentClass: typeof Agent;
  export default AgentClass;
}

declare module 'undici/lib/api/index.js' {
  import type { Dispatcher } from 'undici';

  const api: Pick<Dispatcher, 'request' | 'stream' | 'pipeline' | 'upgrade' | 'connect'>;
  export default api;
}
