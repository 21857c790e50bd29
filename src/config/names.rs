//! Part of the first stage of the data flow (`config`): naming rules shared by the configuration
//! files and the commands that write them: stage, API and deployment names, stage variable names
//! and values (the AWS rules). Pure functions over strings; `validate`, `uri` and `deploy` use
//! them, and they use nothing.

pub const MAX_VARIABLES: usize = 100;
pub const MAX_VARIABLE_NAME: usize = 64;
pub const MAX_VARIABLE_VALUE: usize = 512;

/// Stage names, and the names of APIs and deployments: letters, digits, `-`, `_` (AWS), at most 128.
pub fn valid_stage_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Stage variable names: letters, digits and `_`, at most 64 characters (AWS).
pub fn valid_variable_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_VARIABLE_NAME
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Stage variable values: `[A-Za-z0-9-._~:/?#&=,]+`, at most 512 characters (AWS).
pub fn valid_variable_value(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_VARIABLE_VALUE
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~:/?#&=,".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_rules_follow_aws() {
        assert!(valid_variable_name("alias_2"));
        assert!(!valid_variable_name("a-b"));
        assert!(!valid_variable_name(&"x".repeat(65)));
        assert!(valid_variable_value("http://a.b:80/x?y=1&z=2,3#f~"));
        assert!(!valid_variable_value("has space"));
        assert!(!valid_variable_value("quote\""));
        assert!(!valid_variable_value(&"x".repeat(513)));
    }
}
