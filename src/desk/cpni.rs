//! CPNI safeguards for customers' own requests (47 CFR §64.2010): a password that is not
//! derived from biographical data (stored as an Argon2 hash), and a notice to the address
//! of record whenever the password or the address of record is created or changed.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::records::{Db, DbError, Value};

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

/// Why a password is refused. Never carries the password.
#[derive(Debug, thiserror::Error)]
pub enum CpniError {
    #[error("password shorter than {MIN_PASSWORD} characters")]
    TooShort,
    #[error("password derived from biographical or account data ({0})")]
    Biographical(&'static str),
    #[error("no subscriber of that number")]
    NoSubscriber,
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("password hashing failed")]
    Hash,
}

/// Sets (or changes) the CPNI password of `number` and notifies the customer at the
/// address of record.
pub fn set_password(db: &mut Db, number: &str, password: &str, now_ns: i64) -> Result<(), CpniError> {
    let sub = db.subscriber(number)?.ok_or(CpniError::NoSubscriber)?;
    if password.chars().count() < MIN_PASSWORD {
        return Err(CpniError::TooShort);
    }
    let lower = password.to_lowercase();
    let digits: String = password.chars().filter(char::is_ascii_digit).collect();
    for word in sub.name.split_whitespace().filter(|w| w.len() >= 3) {
        if lower.contains(&word.to_lowercase()) {
            return Err(CpniError::Biographical("name"));
        }
    }
    for word in sub.address.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() >= 3) {
        if lower.contains(&word.to_lowercase()) {
            return Err(CpniError::Biographical("address"));
        }
    }
    if digits.len() >= 4 && number.contains(&digits[digits.len() - 4..]) {
        return Err(CpniError::Biographical("telephone number"));
    }
    if let Some(start) = &sub.account_start {
        let d: String = start.chars().filter(char::is_ascii_digit).collect();
        if digits.len() >= 4 && (d.contains(&digits) || digits.contains(&d[d.len().saturating_sub(4)..])) {
            return Err(CpniError::Biographical("account date"));
        }
    }
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|_| CpniError::Hash)?.to_string();
    let had = db
        .query("SELECT password_hash FROM subscribers WHERE number = $1", &[number.into()])?
        .first()
        .and_then(|r| r.first().cloned())
        .is_some_and(|v| v != Value::Null);
    db.execute("UPDATE subscribers SET password_hash = $1 WHERE number = $2", &[hash.into(), number.into()])?;
    notify(db, number, if had { "password_changed" } else { "password_created" }, &sub.address, now_ns)?;
    Ok(())
}

/// Checks a customer's password; false when none is set.
pub fn verify_password(db: &mut Db, number: &str, password: &str) -> Result<bool, DbError> {
    let rows = db.query("SELECT password_hash FROM subscribers WHERE number = $1", &[number.into()])?;
    let Some(hash) = rows.first().and_then(|r| r.first()).and_then(Value::text).map(str::to_owned) else { return Ok(false) };
    let Ok(parsed) = PasswordHash::new(&hash) else { return Ok(false) };
    Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Changes the address of record; the notice goes to the address it had before.
pub fn set_address(db: &mut Db, number: &str, address: &str, now_ns: i64) -> Result<(), CpniError> {
    let sub = db.subscriber(number)?.ok_or(CpniError::NoSubscriber)?;
    db.execute("UPDATE subscribers SET address = $1 WHERE number = $2", &[address.into(), number.into()])?;
    notify(db, number, "address_changed", &sub.address, now_ns)?;
    Ok(())
}

fn notify(db: &mut Db, number: &str, kind: &str, sent_to: &str, now_ns: i64) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO notices (number, time_ns, kind, sent_to) VALUES ($1, $2, $3, $4)",
        &[number.into(), now_ns.into(), kind.into(), sent_to.into()],
    )?;
    Ok(())
}

/// The notices sent to a customer: (kind, sent_to).
pub fn notices(db: &mut Db, number: &str) -> Result<Vec<(String, String)>, DbError> {
    let rows = db.query("SELECT kind, sent_to FROM notices WHERE number = $1 ORDER BY id", &[number.into()])?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((r.first()?.text()?.to_owned(), r.get(1)?.text()?.to_owned())))
        .collect())
}
