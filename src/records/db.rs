//! One database handle over the two engines: SQLite (embedded, the default: one file under
//! the spool, WAL) and PostgreSQL (`postgres://…`). Statements are written once, with `$1`…
//! placeholders numbered in order of first use (both engines accept them), and values are
//! the three SQL types the schema uses: NULL, BIGINT and TEXT.

use std::path::{Path, PathBuf};

/// A value bound to or read from a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl Value {
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    pub fn opt_text(s: &Option<String>) -> Value {
        s.as_ref().map_or(Value::Null, |s| Value::Text(s.clone()))
    }
    pub fn opt_int(i: Option<i64>) -> Value {
        i.map_or(Value::Null, Value::Int)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Int(i64::from(b))
    }
}

/// Why the records database failed. Names the database (a file, or the PostgreSQL host),
/// never a number or a password.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{db}: {source}")]
    Sqlite { db: String, source: rusqlite::Error },
    #[error("{db}: {source}")]
    Postgres { db: String, source: postgres::Error },
    #[error("{db}: column {column} has an unexpected type")]
    Type { db: String, column: usize },
    #[error("{0}")]
    Invalid(String),
    /// The audit trail of the records writer (purges, blocked traces) could not be written.
    #[error("audit trail: {0}")]
    Audit(#[from] crate::audit::AuditError),
}

/// The engine behind a [`Db`].
pub enum Engine {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

/// An open records database.
pub struct Db {
    engine: Engine,
    /// For errors: the file, or `postgres://host:port/dbname` without credentials.
    name: String,
}

/// The default database file under a spool.
pub fn default_path(spool: &Path) -> PathBuf {
    spool.join("records").join("records.sqlite")
}

impl Db {
    /// Opens `spec`: a `postgres://` / `postgresql://` URL, or a SQLite file path (created,
    /// with its directory). The schema is created if missing.
    pub fn open(spec: &str) -> Result<Db, DbError> {
        let db = if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            let name = redact_url(spec);
            let client = postgres::Client::connect(spec, postgres::NoTls)
                .map_err(|source| DbError::Postgres { db: name.clone(), source })?;
            Db { engine: Engine::Postgres(client), name }
        } else {
            let path = Path::new(spec);
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| DbError::Invalid(format!("{}: {e}", parent.display())))?;
            }
            let name = path.display().to_string();
            let conn = rusqlite::Connection::open(path).map_err(|source| DbError::Sqlite { db: name.clone(), source })?;
            let mut db = Db { engine: Engine::Sqlite(conn), name };
            // WAL: readers (the desk) never block the writer thread; NORMAL sync is durable
            // at each checkpoint and never corrupts.
            // A 64 MiB page cache keeps the party indexes' upper levels in memory at 10^8 rows.
            db.batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA cache_size=-65536;")?;
            db
        };
        let mut db = db;
        super::schema::create(&mut db)?;
        Ok(db)
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.engine, Engine::Postgres(_))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn sqlite_err(&self, source: rusqlite::Error) -> DbError {
        DbError::Sqlite { db: self.name.clone(), source }
    }

    fn pg_err(&self, source: postgres::Error) -> DbError {
        DbError::Postgres { db: self.name.clone(), source }
    }

    /// Runs statements without parameters.
    pub fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        let r = match &mut self.engine {
            Engine::Sqlite(c) => c.execute_batch(sql).map_err(Err),
            Engine::Postgres(c) => c.batch_execute(sql).map_err(Ok),
        };
        r.map_err(|e| self.either(e))
    }

    fn either(&self, e: Result<postgres::Error, rusqlite::Error>) -> DbError {
        match e {
            Ok(p) => self.pg_err(p),
            Err(s) => self.sqlite_err(s),
        }
    }

    /// Executes one statement; rows changed.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let r = match &mut self.engine {
            Engine::Sqlite(c) => c
                .execute(&sqlite_sql(sql), rusqlite::params_from_iter(params.iter().map(SqliteValue)))
                .map(|n| n as u64)
                .map_err(Err),
            Engine::Postgres(c) => {
                let owned = pg_params(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = owned.iter().map(|p| p.as_ref()).collect();
                c.execute(sql, &refs).map_err(Ok)
            }
        };
        r.map_err(|e| self.either(e))
    }

    /// Runs a query; each row as values in column order.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, DbError> {
        let name = self.name.clone();
        match &mut self.engine {
            Engine::Sqlite(c) => {
                let run = || -> Result<Vec<Vec<Value>>, rusqlite::Error> {
                    let mut st = c.prepare_cached(&sqlite_sql(sql))?;
                    let n = st.column_count();
                    let mut rows = st.query(rusqlite::params_from_iter(params.iter().map(SqliteValue)))?;
                    let mut out = Vec::new();
                    while let Some(row) = rows.next()? {
                        let mut v = Vec::with_capacity(n);
                        for i in 0..n {
                            v.push(match row.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => Value::Null,
                                rusqlite::types::ValueRef::Integer(i) => Value::Int(i),
                                rusqlite::types::ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                                _ => return Err(rusqlite::Error::InvalidColumnType(i, String::new(), rusqlite::types::Type::Blob)),
                            });
                        }
                        out.push(v);
                    }
                    Ok(out)
                };
                run().map_err(|source| DbError::Sqlite { db: name, source })
            }
            Engine::Postgres(c) => {
                let owned = pg_params(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = owned.iter().map(|p| p.as_ref()).collect();
                let rows = c.query(sql, &refs).map_err(|source| DbError::Postgres { db: name.clone(), source })?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let mut v = Vec::with_capacity(row.len());
                    for (i, col) in row.columns().iter().enumerate() {
                        use postgres::types::Type;
                        let t = col.type_();
                        let value = if *t == Type::INT8 {
                            row.try_get::<_, Option<i64>>(i).ok().flatten().map_or(Value::Null, Value::Int)
                        } else if *t == Type::INT4 {
                            row.try_get::<_, Option<i32>>(i).ok().flatten().map_or(Value::Null, |x| Value::Int(x.into()))
                        } else if *t == Type::TEXT || *t == Type::VARCHAR {
                            row.try_get::<_, Option<String>>(i).ok().flatten().map_or(Value::Null, Value::Text)
                        } else {
                            return Err(DbError::Type { db: name, column: i });
                        };
                        v.push(value);
                    }
                    out.push(v);
                }
                Ok(out)
            }
        }
    }

    /// Copies what SQLite's write-ahead log holds into the database file, without waiting
    /// for readers (`PASSIVE`: pages a reader still needs stay in the log); nothing to do on
    /// PostgreSQL. Run when the writer is idle, it leaves little for the checkpoint SQLite
    /// makes when the database closes at the end of a run.
    pub fn checkpoint(&mut self) -> Result<(), DbError> {
        let r = match &mut self.engine {
            Engine::Sqlite(c) => c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())),
            Engine::Postgres(_) => return Ok(()),
        };
        r.map_err(|e| self.sqlite_err(e))
    }

    /// Runs `f` in one transaction: committed when it returns `Ok`, rolled back otherwise.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&mut Db) -> Result<T, DbError>) -> Result<T, DbError> {
        self.batch("BEGIN")?;
        match f(self) {
            Ok(t) => {
                self.batch("COMMIT")?;
                Ok(t)
            }
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Inserts many rows of one statement in one transaction (prepared once).
    pub fn insert_many(&mut self, sql: &str, rows: &[Vec<Value>]) -> Result<(), DbError> {
        let name = self.name.clone();
        match &mut self.engine {
            Engine::Sqlite(c) => {
                let mut run = || -> Result<(), rusqlite::Error> {
                    let tx = c.transaction()?;
                    {
                        let mut st = tx.prepare_cached(&sqlite_sql(sql))?;
                        for r in rows {
                            st.execute(rusqlite::params_from_iter(r.iter().map(SqliteValue)))?;
                        }
                    }
                    tx.commit()
                };
                run().map_err(|source| DbError::Sqlite { db: name, source })
            }
            Engine::Postgres(c) => {
                let mut run = || -> Result<(), postgres::Error> {
                    let mut tx = c.transaction()?;
                    let st = tx.prepare(sql)?;
                    for r in rows {
                        let owned = pg_params(r);
                        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = owned.iter().map(|p| p.as_ref()).collect();
                        tx.execute(&st, &refs)?;
                    }
                    tx.commit()
                };
                run().map_err(|source| DbError::Postgres { db: name, source })
            }
        }
    }
}

/// `$N` placeholders as SQLite's numbered `?N` (a bare `$N` would be a named parameter,
/// numbered by first appearance rather than by N).
fn sqlite_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

struct SqliteValue<'a>(&'a Value);

impl rusqlite::ToSql for SqliteValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

fn pg_params(params: &[Value]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    params
        .iter()
        .map(|v| -> Box<dyn postgres::types::ToSql + Sync> {
            match v {
                Value::Null => Box::new(PgNull),
                Value::Int(i) => Box::new(*i),
                Value::Text(s) => Box::new(s.clone()),
            }
        })
        .collect()
}

/// A NULL of whatever type the statement expects.
#[derive(Debug)]
struct PgNull;

impl postgres::types::ToSql for PgNull {
    fn to_sql(
        &self,
        _ty: &postgres::types::Type,
        _out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(postgres::types::IsNull::Yes)
    }
    fn accepts(_ty: &postgres::types::Type) -> bool {
        true
    }
    postgres::types::to_sql_checked!();
}

/// `postgres://user:secret@host/db` → `postgres://host/db`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_owned(),
    }
}
