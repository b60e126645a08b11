//! Who is calling: the account every operation is scoped to.

#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: String,
    pub access_key_id: String,
}
