//! Warrant-store files for tests: an `agencies.toml` with the appliance and given agencies.

/// `agencies.toml` text: appliance EXAMPLE-TEL/MED-01 in the US, and one `[[agency]]` per
/// (id, country, profile), with loopback HI2/HI3 endpoints 6100/6101, 6200/6201, ...
pub fn agencies_toml(agencies: &[(&str, &str, &str)]) -> String {
    let mut toml = String::from(
        "[appliance]\noperator_id = \"EXAMPLE-TEL\"\nnetwork_element_id = \"MED-01\"\ncountry = \"US\"\n",
    );
    for (i, (id, country, profile)) in agencies.iter().enumerate() {
        let port = 6100 + 100 * i;
        toml += &format!(
            "\n[[agency]]\nid = \"{id}\"\ncountry = \"{country}\"\nprofile = \"{profile}\"\n\
             hi2 = \"tls://127.0.0.1:{port}\"\nhi3 = \"tls://127.0.0.1:{}\"\n",
            port + 1
        );
    }
    toml
}
