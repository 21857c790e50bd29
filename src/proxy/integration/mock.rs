//! Part of the proxy stage, step 9 for `mock`: no backend. The request template's `statusCode`
//! selects the integration response, which answers.

use super::mapping::View;
use super::response::{respond, Integrated};
use super::{content_type, Failure, Job};
use crate::proxy::facts::Facts;
use crate::proxy::respond::{Answer, GatewayError};
use crate::snapshot::templated::{MockIntegration, RequestBody};
use crate::template::{Overrides, RequestOverrides};
use bytes::Bytes;

pub fn serve(job: &Job<'_>, mock: &MockIntegration) -> Result<Answer, Failure> {
    let mut view = View::new(Facts::new(job.req, job.ctx), job.call, job.route);
    let limits = &job.ctx.snapshot.template_limits;
    let (status, request_override, response_override) =
        match mock.request_body(content_type(job.req)) {
            RequestBody::Unsupported => return Err(GatewayError::UnsupportedMediaType.into()),
            RequestBody::Transform(t) => {
                let r = view.render(t, &job.body, limits)?;
                (
                    mock_status(&r.output).unwrap_or(200),
                    r.request_override,
                    r.response_override,
                )
            }
            RequestBody::Passthrough => (
                mock_status(&String::from_utf8_lossy(&job.body)).unwrap_or(200),
                RequestOverrides::default(),
                Overrides::default(),
            ),
        };
    let got = Integrated {
        status,
        headers: None,
        body: Bytes::new(),
        request_override,
        response_override,
    };
    let selector = status.to_string();
    respond(&mut view, &mock.responses, got, Some(&selector), limits)
}

/// `statusCode` from a mock's rendered request template. AWS accepts `{statusCode: 200}`, which
/// is not JSON, so this reads the number after the key rather than parsing the document.
fn mock_status(output: &str) -> Option<u16> {
    let at = output.find("statusCode")?;
    let rest = output[at + "statusCode".len()..]
        .trim_start_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
    let rest = rest
        .strip_prefix(':')?
        .trim_start()
        .trim_start_matches(['"', '\'']);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::mock_status;

    #[test]
    fn mock_status_accepts_aws_loose_json() {
        assert_eq!(mock_status(r#"{"statusCode": 200}"#), Some(200));
        assert_eq!(mock_status("{statusCode: 404}"), Some(404));
        assert_eq!(mock_status("{\n  \"statusCode\" : \"201\"\n}"), Some(201));
        assert_eq!(mock_status("{}"), None);
    }
}
