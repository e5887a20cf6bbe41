// Package warehouse is the `warehouse` destination: it loads Track messages
// into SQL tables laid out as Segment's warehouses lay them out (a `tracks`
// table, on SQLite a view, and a table per event in one schema per source), on SQLite
// (embedded, a database file per source) or Postgres. The schema model
// (names, flattening, types, casts) is internal/warehouse; this package
// owns the connection, the catalogue, DDL and loading. Retries, batching
// and dead letters are the destination.Runner's.
package warehouse
