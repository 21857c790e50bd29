//! Part of the proxy stage, step 5 of the pipeline: authorizers (DESIGN.md 8.1). So far the
//! pure core: the IAM policy a `token` or `request` authorizer returns and its evaluation
//! against a request's `methodArn` (`policy`). The step itself (events, the decision cache,
//! JWT) builds on it.

pub mod policy;
