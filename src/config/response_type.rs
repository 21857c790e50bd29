//! Part of the configuration vocabulary: the types of the answers the gateway makes itself, AWS
//! API Gateway's 21 gateway response types plus stagecraft's own where AWS has none, with each
//! type's default status, message and `x-amzn-ErrorType`. `gateway_responses:` keys name these,
//! and every refusal on the request path has one (the `type` of
//! `stagecraft_gateway_responses_total`).

/// Declares the enum, `ALL` and `name` from one list, so the three cannot drift apart.
macro_rules! response_types {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A gateway response type, by AWS's name (`RESOURCE_NOT_FOUND`, ...).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ResponseType {
            $($(#[$doc])* $variant,)*
        }

        impl ResponseType {
            /// Every type: AWS's 21 in AWS's (alphabetical) order, then stagecraft's.
            pub const ALL: &'static [ResponseType] = &[$(ResponseType::$variant,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(ResponseType::$variant => $name,)*
                }
            }
        }
    };
}

response_types! {
    AccessDenied => "ACCESS_DENIED",
    ApiConfigurationError => "API_CONFIGURATION_ERROR",
    AuthorizerConfigurationError => "AUTHORIZER_CONFIGURATION_ERROR",
    AuthorizerFailure => "AUTHORIZER_FAILURE",
    BadRequestParameters => "BAD_REQUEST_PARAMETERS",
    BadRequestBody => "BAD_REQUEST_BODY",
    Default4xx => "DEFAULT_4XX",
    Default5xx => "DEFAULT_5XX",
    ExpiredToken => "EXPIRED_TOKEN",
    IntegrationFailure => "INTEGRATION_FAILURE",
    IntegrationTimeout => "INTEGRATION_TIMEOUT",
    InvalidApiKey => "INVALID_API_KEY",
    InvalidSignature => "INVALID_SIGNATURE",
    MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
    QuotaExceeded => "QUOTA_EXCEEDED",
    RequestTooLarge => "REQUEST_TOO_LARGE",
    ResourceNotFound => "RESOURCE_NOT_FOUND",
    Throttled => "THROTTLED",
    Unauthorized => "UNAUTHORIZED",
    UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
    WafFiltered => "WAF_FILTERED",
    // stagecraft's own, for answers AWS gives differently or not at all.
    /// 405 with `Allow` (AWS answers MISSING_AUTHENTICATION_TOKEN, 403).
    MethodNotAllowed => "METHOD_NOT_ALLOWED",
    /// 414.
    UriTooLong => "URI_TOO_LONG",
    /// 431.
    HeadersTooLarge => "HEADERS_TOO_LARGE",
    /// 400 for malformed HTTP: framing, `Host`, the request target.
    BadRequest => "BAD_REQUEST",
    /// Fault injection's abort, with the status configured on the route or stage.
    FaultInjected => "FAULT_INJECTED",
    /// 503: the shared usage store failed and `on_store_error` is `deny`.
    UsageStoreUnavailable => "USAGE_STORE_UNAVAILABLE",
}

use ResponseType::*;

impl ResponseType {
    /// The type a `gateway_responses:` key names (AWS's spelling, upper case).
    pub fn parse(name: &str) -> Option<ResponseType> {
        ResponseType::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// Whether AWS API Gateway has this type (an OpenAPI export writes only these).
    pub fn is_aws(self) -> bool {
        !matches!(
            self,
            MethodNotAllowed
                | UriTooLong
                | HeadersTooLarge
                | BadRequest
                | FaultInjected
                | UsageStoreUnavailable
        )
    }

    /// The default status. `None` for DEFAULT_4XX and DEFAULT_5XX, which have none of their
    /// own, and for FAULT_INJECTED, whose status is configured.
    pub fn default_status(self) -> Option<u16> {
        Some(match self {
            AccessDenied
            | ExpiredToken
            | InvalidApiKey
            | InvalidSignature
            | MissingAuthenticationToken
            | WafFiltered => 403,
            ApiConfigurationError | AuthorizerConfigurationError | AuthorizerFailure => 500,
            // AWS documents 504 and answers 500 for a misconfigured integration; stagecraft's
            // integration failures are a backend that cannot be reached or answered badly: 502.
            IntegrationFailure => 502,
            IntegrationTimeout => 504,
            BadRequestParameters | BadRequestBody | BadRequest => 400,
            QuotaExceeded | Throttled => 429,
            RequestTooLarge => 413,
            ResourceNotFound => 404,
            Unauthorized => 401,
            UnsupportedMediaType => 415,
            MethodNotAllowed => 405,
            UriTooLong => 414,
            HeadersTooLarge => 431,
            UsageStoreUnavailable => 503,
            Default4xx | Default5xx | FaultInjected => return None,
        })
    }

    /// The default `message` of the JSON body (`{"message": "..."}`): AWS's text where AWS has
    /// the type, the HTTP reason phrase otherwise.
    pub fn message(self) -> &'static str {
        match self {
            AccessDenied => "User is not authorized to access this resource",
            ApiConfigurationError | AuthorizerConfigurationError | AuthorizerFailure => {
                "Internal server error"
            }
            BadRequestParameters => "Missing required request parameters",
            BadRequestBody => "Invalid request body",
            Default4xx | BadRequest => "Bad Request",
            Default5xx => "Internal server error",
            ExpiredToken => "The security token included in the request is expired",
            IntegrationFailure => "Bad Gateway",
            IntegrationTimeout => "Endpoint request timed out",
            InvalidApiKey | WafFiltered => "Forbidden",
            InvalidSignature => "Invalid signature",
            MissingAuthenticationToken => "Missing Authentication Token",
            QuotaExceeded => "Limit Exceeded",
            RequestTooLarge => "Request Too Large",
            ResourceNotFound => "Not Found",
            Throttled => "Too Many Requests",
            Unauthorized => "Unauthorized",
            UnsupportedMediaType => "Unsupported Media Type",
            MethodNotAllowed => "Method Not Allowed",
            UriTooLong => "Request-URI Too Long",
            HeadersTooLarge => "Request Header Fields Too Large",
            FaultInjected => "Fault injected",
            UsageStoreUnavailable => "Service Unavailable",
        }
    }

    /// The default answer's whole body, `{"message":"..."}`, built once for every type.
    pub fn default_body(self) -> &'static str {
        static BODIES: std::sync::LazyLock<Box<[String]>> = std::sync::LazyLock::new(|| {
            ResponseType::ALL
                .iter()
                .map(|t| serde_json::json!({ "message": t.message() }).to_string())
                .collect()
        });
        // ALL lists the variants in declaration order, so a variant's discriminant is its index.
        &BODIES[self as usize]
    }

    /// `x-amzn-ErrorType`, for the types AWS is recorded sending it with (AWS snapshots for
    /// the first two, LocalStack's implementation and real traces for the rest).
    pub fn error_type(self) -> Option<&'static str> {
        Some(match self {
            MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ApiConfigurationError => "InternalServerErrorException",
            AccessDenied => "AccessDeniedException",
            InvalidApiKey => "ForbiddenException",
            QuotaExceeded => "LimitExceededException",
            Throttled => "TooManyRequestsException",
            Unauthorized => "UnauthorizedException",
            BadRequestParameters | BadRequestBody => "BadRequestException",
            _ => return None,
        })
    }

    /// The type whose customization answers for this one when the API does not set it:
    /// DEFAULT_4XX or DEFAULT_5XX by the status class (AWS's whole-answer rule).
    pub fn fallback(status: u16) -> ResponseType {
        if status >= 500 {
            Default5xx
        } else {
            Default4xx
        }
    }
}

impl std::fmt::Display for ResponseType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aws_has_21() {
        for &t in ResponseType::ALL {
            assert_eq!(ResponseType::parse(t.name()), Some(t));
        }
        assert_eq!(ResponseType::parse("not_found"), None);
        assert_eq!(
            ResponseType::parse("resource_not_found"),
            None,
            "AWS's case only"
        );
        assert_eq!(ResponseType::ALL.iter().filter(|t| t.is_aws()).count(), 21);
        let mut names: Vec<_> = ResponseType::ALL.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 27);
    }

    #[test]
    fn aws_defaults() {
        // DESIGN.md 8.5 and the reference table of AWS's defaults.
        for (t, status) in [
            (AccessDenied, 403),
            (ApiConfigurationError, 500),
            (BadRequestBody, 400),
            (IntegrationTimeout, 504),
            (InvalidApiKey, 403),
            (MissingAuthenticationToken, 403),
            (QuotaExceeded, 429),
            (RequestTooLarge, 413),
            (ResourceNotFound, 404),
            (Throttled, 429),
            (Unauthorized, 401),
            (UnsupportedMediaType, 415),
        ] {
            assert_eq!(t.default_status(), Some(status), "{t}");
        }
        assert_eq!(Default4xx.default_status(), None);
        assert_eq!(Throttled.message(), "Too Many Requests");
        assert_eq!(QuotaExceeded.message(), "Limit Exceeded");
        assert_eq!(Throttled.error_type(), Some("TooManyRequestsException"));
        assert_eq!(ResourceNotFound.error_type(), None);
        assert_eq!(ResponseType::fallback(404), Default4xx);
        assert_eq!(ResponseType::fallback(599), Default5xx);
        for (i, &t) in ResponseType::ALL.iter().enumerate() {
            assert_eq!(t as usize, i, "{t}: ALL is in declaration order");
        }
        assert_eq!(
            ResourceNotFound.default_body(),
            r#"{"message":"Not Found"}"#
        );
    }
}
