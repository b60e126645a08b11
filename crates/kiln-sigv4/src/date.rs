//! Request timestamps: `x-amz-date` (ISO 8601 basic) or an HTTP `Date` header.

use std::fmt;

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// A UTC instant shown in SigV4's `YYYYMMDDTHHMMSSZ` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AmzDate(pub OffsetDateTime);

impl AmzDate {
    /// Parses `20150830T123600Z`.
    pub fn parse_basic(text: &str) -> Option<Self> {
        let format = format_description!("[year][month][day]T[hour][minute][second]Z");
        PrimitiveDateTime::parse(text, format)
            .ok()
            .map(|date| Self(date.assume_utc()))
    }

    /// Parses an HTTP `Date` header (`Sun, 30 Aug 2015 12:36:00 GMT`) or the basic form.
    pub fn parse_http_date(text: &str) -> Option<Self> {
        let format = format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        PrimitiveDateTime::parse(text, format)
            .ok()
            .map(|date| Self(date.assume_utc()))
            .or_else(|| Self::parse_basic(text))
    }

    /// The `YYYYMMDD` day, as used in the credential scope.
    pub fn day(&self) -> String {
        let date = self.0.to_offset(time::UtcOffset::UTC).date();
        format!(
            "{:04}{:02}{:02}",
            date.year(),
            u8::from(date.month()),
            date.day()
        )
    }
}

impl fmt::Display for AmzDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let utc = self.0.to_offset(time::UtcOffset::UTC);
        write!(
            f,
            "{}T{:02}{:02}{:02}Z",
            self.day(),
            utc.hour(),
            utc.minute(),
            utc.second()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn basic_format_round_trips() {
        let date = AmzDate::parse_basic("20150830T123600Z").unwrap();
        assert_eq!(date.0, datetime!(2015-08-30 12:36:00 UTC));
        assert_eq!(date.to_string(), "20150830T123600Z");
        assert_eq!(date.day(), "20150830");
    }

    #[test]
    fn http_date_is_accepted() {
        let date = AmzDate::parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT").unwrap();
        assert_eq!(date.to_string(), "20150830T123600Z");
    }

    #[test]
    fn garbage_is_rejected() {
        for text in [
            "",
            "2015-08-30T12:36:00Z",
            "20150830T123600",
            "20151330T123600Z",
            "20150830T123600Z ",
            "Sun, 30 Aug 2015 12:36:00 PST",
        ] {
            assert!(AmzDate::parse_http_date(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn non_utc_instants_display_in_utc() {
        let date = AmzDate(datetime!(2015-08-30 23:30:00 -02:00));
        assert_eq!(date.to_string(), "20150831T013000Z");
    }
}
