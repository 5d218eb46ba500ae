// The undici modules undiciPool.ts loads by path (undici has no exports map); typed there.
declare module "undici/lib/api/index.js" {
  const api: object;
  export default api;
}
declare module "undici/lib/dispatcher/dispatcher.js" {
  const Dispatcher: unknown;
  export default Dispatcher;
}
declare module "undici/lib/dispatcher/pool.js" {
  const Pool: unknown;
  export default Pool;
}
