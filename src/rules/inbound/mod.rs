//! Rules about the internet acting on our hosts: exposed services, brute
//! force against admin ports, port scans and sweeps, rejected traffic.

mod brute_force;
mod exposure;
mod rejected;
mod scan;

pub use brute_force::AdminPortBruteForce;
pub use exposure::Exposure;
pub use rejected::RejectedTraffic;
pub use scan::PortScan;
