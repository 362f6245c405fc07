// @avec/api: the one home of the API contract shared by operator, remoting server and e2e.
export * from './names.js';
export * from './meta.js';
export * from './claim.js';
export * from './gpunode.js';
