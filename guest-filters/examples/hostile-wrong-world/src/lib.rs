//! A component of another world: it exports a `decide` of the wrong type and no `init`.
//! The gateway must refuse it at load time, naming the filter.

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        inline: "
            package hostile:wrong-world;

            world wrong {
                export decide: func(events: list<string>) -> list<bool>;
            }
        ",
    });

    struct Wrong;

    impl Guest for Wrong {
        fn decide(events: Vec<String>) -> Vec<bool> {
            events.iter().map(|_| true).collect()
        }
    }

    export!(Wrong);
}
