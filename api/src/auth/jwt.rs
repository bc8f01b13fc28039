//! Short-lived access tokens: HS256 JWTs carrying the user, the login session and the roles.
//! Verification pins the algorithm, issuer and audience and requires exp, nbf, iss, aud and sub.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::roles::Role;
use crate::error::ApiError;

pub const ISSUER: &str = "gridwing";
pub const AUDIENCE: &str = "gridwing-api";
/// Clock skew tolerated between instances and phones.
const LEEWAY_SECS: u64 = 30;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    /// The login session, so a logout can refuse the token before it expires.
    pub sid: Uuid,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub roles: Vec<Role>,
}

/// Keys and rules for access tokens.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(900),
        }
    }

    /// Seconds an access token lives.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Signs an access token for a user's session.
    pub fn issue(&self, user: Uuid, session: Uuid, roles: &[Role]) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user,
            sid: session,
            iat: now,
            nbf: now,
            exp: now + self.ttl_secs,
            roles: roles.to_vec(),
        };
        Ok(encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Checks signature, algorithm, issuer, audience and times; any failure is a 401.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| {
                tracing::debug!(error = %e, "access token refused");
                ApiError::Unauthorized("invalid or expired access token")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_other_keys_do_not() -> anyhow::Result<()> {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef", 60);
        let (user, sid) = (Uuid::now_v7(), Uuid::now_v7());
        let token = keys.issue(user, sid, &[Role::GridWorker])?;
        let claims = keys.verify(&token)?;
        assert_eq!((claims.sub, claims.sid), (user, sid));
        assert_eq!(claims.roles, [Role::GridWorker]);
        let other = JwtKeys::new(b"another-secret-another-secret-00", 60);
        assert!(other.verify(&token).is_err());
        Ok(())
    }
}
