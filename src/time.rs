//! Unix seconds to UTC calendar dates, without a date library.

/// A UTC date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDateTime {
    /// Year.
    pub year: i64,
    /// Month 1-12.
    pub month: u32,
    /// Day 1-31.
    pub day: u32,
    /// Hour 0-23.
    pub hour: u32,
    /// Minute 0-59.
    pub minute: u32,
    /// Second 0-59.
    pub second: u32,
}

impl UtcDateTime {
    /// Converts Unix seconds (Howard Hinnant's days-to-civil algorithm).
    pub fn from_unix(secs: u64) -> UtcDateTime {
        let secs = secs.min(253_402_300_799); // 9999-12-31T23:59:59Z
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        UtcDateTime {
            year: if m <= 2 { y + 1 } else { y },
            month: m,
            day: d,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// Unix seconds of a calendar date and time (inverse of `from_unix`).
    pub fn to_unix(&self) -> Option<u64> {
        if !(1..=12).contains(&self.month)
            || !(1..=31).contains(&self.day)
            || self.hour > 23
            || self.minute > 59
        {
            return None;
        }
        let y = if self.month <= 2 {
            self.year - 1
        } else {
            self.year
        };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        u64::try_from(secs).ok()
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The event time of a flow record, SPEC's one rule for every window
/// (findings, tables, `files`): it begins at `start` (else `end`) and ends
/// at `end` (else `start`).
#[inline]
pub fn flow_span(start: Option<u64>, end: Option<u64>) -> (Option<u64>, Option<u64>) {
    (start.or(end), end.or(start))
}

/// The span of many flows: the earliest beginning and the latest end of
/// [`flow_span`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeSpan {
    /// Earliest beginning.
    pub first: Option<u64>,
    /// Latest end.
    pub last: Option<u64>,
}

impl TimeSpan {
    /// Widens the span by one flow.
    #[inline]
    pub fn add(&mut self, start: Option<u64>, end: Option<u64>) {
        let (s, e) = flow_span(start, end);
        if let Some(s) = s {
            self.first = Some(self.first.map_or(s, |f| f.min(s)));
        }
        if let Some(e) = e {
            self.last = Some(self.last.map_or(e, |l| l.max(e)));
        }
    }
}

/// RFC 3339 UTC text of Unix seconds.
pub fn rfc3339(secs: u64) -> String {
    UtcDateTime::from_unix(secs).rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (1418530010, "2014-12-14T04:06:50Z"),
            (1439387263, "2015-08-12T13:47:43Z"),
            (164000066, "1975-03-14T03:34:26Z"),
            (951782400, "2000-02-29T00:00:00Z"),
            (1750962000, "2025-06-26T18:20:00Z"),
        ];
        for (secs, want) in cases {
            let t = UtcDateTime::from_unix(secs);
            assert_eq!(t.rfc3339(), want);
            assert_eq!(t.to_unix(), Some(secs));
        }
        assert_eq!(rfc3339(u64::MAX), "9999-12-31T23:59:59Z");
    }
}
