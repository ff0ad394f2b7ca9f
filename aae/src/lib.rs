//! ARPwatch exporter (Kea hooks library).
