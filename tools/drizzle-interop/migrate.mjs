#!/usr/bin/env node
// Runs drizzle-orm's REAL migrator against a SQLite file (via sql.js) or a
// PostgreSQL database (via node-postgres), then prints the migrator's
// bookkeeping table as one JSON line on stdout.
//
// Usage:
//   node migrate.mjs sqlite <migrationsFolder> <dbFile>
//   node migrate.mjs pg     <migrationsFolder> <postgresUrl>
//
// Exit 0 on success, 1 on any error (message on stderr). In sqlite mode the
// database file is only (atomically) rewritten after a successful migrate.

import fs from 'node:fs';
import path from 'node:path';

const USAGE =
  'usage: migrate.mjs sqlite <migrationsFolder> <dbFile>\n' +
  '       migrate.mjs pg <migrationsFolder> <postgresUrl>';

class UsageError extends Error {}

// created_at as a decimal string of the stored value (null stays null).
function decimalString(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    return Number.isInteger(value) ? BigInt(value).toString() : String(value);
  }
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  return String(value);
}

function printRows(rows) {
  process.stdout.write(JSON.stringify({ rows }) + '\n');
}

async function runSqlite(migrationsFolder, dbFile) {
  const { default: initSqlJs } = await import('sql.js');
  const { drizzle } = await import('drizzle-orm/sql-js');
  const { migrate } = await import('drizzle-orm/sql-js/migrator');

  const walFile = `${dbFile}-wal`;
  if (fs.existsSync(walFile) && fs.statSync(walFile).size > 0) {
    // sql.js only sees the main file; un-checkpointed WAL content would be lost.
    throw new Error(`${walFile} exists and is non-empty; checkpoint the database first`);
  }

  const SQL = await initSqlJs();
  const bytes = fs.existsSync(dbFile) ? fs.readFileSync(dbFile) : null;
  const sqlite = bytes ? new SQL.Database(new Uint8Array(bytes)) : new SQL.Database();
  try {
    const db = drizzle(sqlite);
    migrate(db, { migrationsFolder });

    const rows = [];
    let stmt;
    try {
      stmt = sqlite.prepare(
        'SELECT hash, created_at FROM "__drizzle_migrations" ORDER BY created_at, id, rowid',
      );
    } catch {
      // e.g. a WITHOUT ROWID table created by someone else
      stmt = sqlite.prepare(
        'SELECT hash, created_at FROM "__drizzle_migrations" ORDER BY created_at, id',
      );
    }
    try {
      while (stmt.step()) {
        const [hash, createdAt] = stmt.get(null, { useBigInt: true });
        rows.push({ hash: decimalString(hash), created_at: decimalString(createdAt) });
      }
    } finally {
      stmt.free();
    }

    const out = sqlite.export();
    const dir = path.dirname(path.resolve(dbFile));
    const tmp = path.join(dir, `.${path.basename(dbFile)}.drizzle-tmp-${process.pid}`);
    try {
      const fd = fs.openSync(tmp, 'w', 0o644);
      try {
        fs.writeSync(fd, out);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, dbFile);
    } catch (e) {
      try { fs.unlinkSync(tmp); } catch { /* ignore */ }
      throw e;
    }
    printRows(rows);
  } finally {
    sqlite.close();
  }
}

async function runPg(migrationsFolder, url) {
  const { default: pg } = await import('pg');
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { migrate } = await import('drizzle-orm/node-postgres/migrator');

  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // An idle-client error must not crash the process with an unhandled event.
  pool.on('error', () => {});
  try {
    const db = drizzle(pool);
    await migrate(db, { migrationsFolder });
    const res = await pool.query(
      'SELECT hash, created_at::text AS created_at FROM "drizzle"."__drizzle_migrations" ORDER BY created_at, id',
    );
    printRows(res.rows.map((r) => ({ hash: r.hash, created_at: decimalString(r.created_at) })));
  } finally {
    await pool.end();
  }
}

function describeError(err) {
  if (err instanceof Error) {
    let msg = err.message || String(err);
    let cause = err.cause;
    while (cause !== undefined && cause !== null) {
      msg += `\ncaused by: ${cause instanceof Error ? cause.message : String(cause)}`;
      cause = cause instanceof Error ? cause.cause : undefined;
    }
    return msg;
  }
  return String(err); // sql.js throws plain strings in a few places
}

async function main(argv) {
  if (argv.length !== 3) throw new UsageError(USAGE);
  const [mode, folder, target] = argv;
  const migrationsFolder = path.resolve(folder);
  if (mode === 'sqlite') return runSqlite(migrationsFolder, target);
  if (mode === 'pg') return runPg(migrationsFolder, target);
  throw new UsageError(`unknown mode '${mode}'\n${USAGE}`);
}

main(process.argv.slice(2)).then(
  () => { process.exitCode = 0; },
  (err) => {
    process.stderr.write(describeError(err) + '\n');
    process.exitCode = 1;
  },
);
