-- PostgreSQL's 0006 announces asset writes to the processes caching them
-- (control/src/db/cache.rs). SQLite has no notifications and nothing caches assets on it:
-- this migration keeps the two lists in step and changes nothing.
SELECT 1;
