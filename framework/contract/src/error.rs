//! Why a call did not produce the handler's answer.

/// Why a call did not produce the handler's answer.
///
/// The domain error (`Domain`) is the callee's business answer; every other variant is a
/// delivery failure the caller must handle even in a monolith, because the same call may cross
/// the network once the callee is extracted. After `Timeout` or `Unavailable` the request may
/// still have run on the other side.
#[derive(Debug, thiserror::Error)]
pub enum CallError<E> {
    /// The callee answered with its own domain error.
    #[error("{0}")]
    Domain(E),
    /// No module serves this request in this process and no remote route is configured.
    #[error("no route for request `{request}`: no hosted module handles it")]
    NoRoute {
        /// The request's wire name.
        request: &'static str,
    },
    /// The module that serves the request could not be reached or refused the call.
    #[error("module `{module}` is unavailable: {reason}")]
    Unavailable {
        /// The callee module.
        module: String,
        /// What went wrong, for operators.
        reason: String,
    },
    /// The callee did not answer in time; the request may still have run.
    #[error("module `{module}` did not answer `{request}` within {after_ms} ms")]
    Timeout {
        /// The callee module.
        module: String,
        /// The request's wire name.
        request: &'static str,
        /// The deadline that passed.
        after_ms: u64,
    },
    /// The two sides were built against incompatible versions of the callee's contract.
    #[error("incompatible contract with module `{module}`: {message}")]
    Incompatible {
        /// The callee module.
        module: String,
        /// Both versions, for operators.
        message: String,
    },
    /// The request or answer could not be encoded or decoded with the wire codec.
    #[error("bad payload for `{request}`: {message}")]
    BadPayload {
        /// The request's wire name.
        request: &'static str,
        /// The codec's complaint.
        message: String,
    },
}

impl<E> CallError<E> {
    /// The domain error, if the callee answered with one.
    pub fn domain(&self) -> Option<&E> {
        match self {
            CallError::Domain(e) => Some(e),
            _ => None,
        }
    }

    /// A short machine-readable code for the failure kind (`"domain"`, `"unavailable"`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Domain(_) => "domain",
            CallError::NoRoute { .. } => "no_route",
            CallError::Unavailable { .. } => "unavailable",
            CallError::Timeout { .. } => "timeout",
            CallError::Incompatible { .. } => "incompatible",
            CallError::BadPayload { .. } => "bad_payload",
        }
    }

    /// Converts a delivery failure for one domain error type into the same failure for
    /// another; `Domain` values are mapped with `f`.
    pub fn map_domain<F, E2>(self, f: F) -> CallError<E2>
    where
        F: FnOnce(E) -> E2,
    {
        match self {
            CallError::Domain(e) => CallError::Domain(f(e)),
            CallError::NoRoute { request } => CallError::NoRoute { request },
            CallError::Unavailable { module, reason } => CallError::Unavailable { module, reason },
            CallError::Timeout {
                module,
                request,
                after_ms,
            } => CallError::Timeout {
                module,
                request,
                after_ms,
            },
            CallError::Incompatible { module, message } => {
                CallError::Incompatible { module, message }
            }
            CallError::BadPayload { request, message } => {
                CallError::BadPayload { request, message }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_domain_keeps_delivery_failures() {
        let e: CallError<u8> = CallError::Timeout {
            module: "billing".into(),
            request: "billing.charge",
            after_ms: 5,
        };
        let mapped: CallError<String> = e.map_domain(|d| d.to_string());
        assert_eq!(mapped.kind(), "timeout");
        let d: CallError<u8> = CallError::Domain(7);
        assert_eq!(d.map_domain(|d| d + 1).domain(), Some(&8));
    }
}
