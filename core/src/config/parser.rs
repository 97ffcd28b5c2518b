pub(super) fn parse(_s: &[super::Source<'_>], _r: &mut dyn FnMut(&str) -> Option<std::net::IpAddr>) -> Result<super::Parsed, Vec<super::Diagnostic>> { todo!() }
