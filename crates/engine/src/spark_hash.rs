//! `hash(a, b, …)`: Spark's 32-bit Murmur3 of its arguments, bit for bit as Spark computes it,
//! since queries keep its values (to sample `abs(hash(id)) % 100 < 10`, to bucket, to compare
//! with a table Spark filled). The seed is 42 and each argument's hash seeds the next; a NULL
//! leaves it as it was. Numbers are hashed as Spark's types hold them (an INT in 4 bytes, a
//! BIGINT, TIMESTAMP or DOUBLE in 8), strings and binaries as their bytes, with Spark's own way
//! of taking the last 1–3 bytes (each alone, not as one word as Murmur3 itself does), and
//! arrays, maps and structs element by element.

use crate::spark::{Function, refused};
use deltalake::arrow::array::{Array, ArrayRef, AsArray, Int32Array};
use deltalake::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use deltalake::datafusion::common::{Result, exec_err};
use std::sync::Arc;

const SEED: u32 = 42;

pub(crate) fn functions() -> Vec<Function> {
    vec![Function::new(
        "hash",
        |args| {
            if !args.is_empty() && args.iter().all(hashable) {
                Ok(args.to_vec())
            } else {
                refused("hash", "one or more values of simple or nested types", args)
            }
        },
        |_| Ok(DataType::Int32),
        hashes,
    )]
}

/// Whether values of `t` can be hashed as Spark hashes them.
fn hashable(t: &DataType) -> bool {
    match t {
        DataType::Null
        | DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(..)
        | DataType::Date32
        | DataType::Timestamp(..)
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary => true,
        DataType::List(f) | DataType::LargeList(f) | DataType::Map(f, _) => hashable(f.data_type()),
        DataType::Struct(fields) => fields.iter().all(|f| hashable(f.data_type())),
        _ => false,
    }
}

fn hashes(args: &[ArrayRef]) -> Result<ArrayRef> {
    let rows = args.first().map_or(0, |a| a.len());
    let mut out = Vec::with_capacity(rows);
    for row in 0..rows {
        let mut hash = SEED;
        for column in args {
            hash = value_hash(column.as_ref(), row, hash)?;
        }
        out.push(hash as i32);
    }
    Ok(Arc::new(Int32Array::from(out)))
}

/// The hash of `array[row]` seeded with `seed`.
fn value_hash(array: &dyn Array, row: usize, seed: u32) -> Result<u32> {
    if array.is_null(row) {
        return Ok(seed);
    }
    Ok(match array.data_type() {
        DataType::Null => seed,
        DataType::Boolean => int(i32::from(array.as_boolean().value(row)), seed),
        DataType::Int8 => int(i32::from(array.as_primitive::<Int8Type>().value(row)), seed),
        DataType::Int16 => int(i32::from(array.as_primitive::<Int16Type>().value(row)), seed),
        DataType::Int32 => int(array.as_primitive::<Int32Type>().value(row), seed),
        DataType::Date32 => int(array.as_primitive::<Date32Type>().value(row), seed),
        DataType::Int64 => long(array.as_primitive::<Int64Type>().value(row), seed),
        DataType::Timestamp(unit, _) => long(micros(array, *unit, row), seed),
        DataType::Float32 => {
            let f = array.as_primitive::<Float32Type>().value(row);
            // -0.0 is 0.0, and every NaN Java's canonical one.
            let bits = if f == 0.0 {
                0
            } else if f.is_nan() {
                0x7fc0_0000
            } else {
                f.to_bits() as i32
            };
            int(bits, seed)
        }
        DataType::Float64 => {
            let d = array.as_primitive::<Float64Type>().value(row);
            let bits = if d == 0.0 {
                0
            } else if d.is_nan() {
                0x7ff8_0000_0000_0000
            } else {
                d.to_bits() as i64
            };
            long(bits, seed)
        }
        DataType::Decimal128(precision, _) => {
            let unscaled = array.as_primitive::<Decimal128Type>().value(row);
            if *precision <= 18 {
                long(unscaled as i64, seed)
            } else {
                bytes(&java_big_integer_bytes(unscaled), seed)
            }
        }
        DataType::Utf8 => bytes(array.as_string::<i32>().value(row).as_bytes(), seed),
        DataType::LargeUtf8 => bytes(array.as_string::<i64>().value(row).as_bytes(), seed),
        DataType::Utf8View => bytes(array.as_string_view().value(row).as_bytes(), seed),
        DataType::Binary => bytes(array.as_binary::<i32>().value(row), seed),
        DataType::LargeBinary => bytes(array.as_binary::<i64>().value(row), seed),
        DataType::List(_) => elements(array.as_list::<i32>().value(row).as_ref(), seed)?,
        DataType::LargeList(_) => elements(array.as_list::<i64>().value(row).as_ref(), seed)?,
        DataType::Map(..) => {
            let entries = array.as_map().value(row);
            let mut hash = seed;
            for entry in 0..entries.len() {
                for column in entries.columns() {
                    hash = value_hash(column.as_ref(), entry, hash)?;
                }
            }
            hash
        }
        DataType::Struct(_) => {
            let mut hash = seed;
            for column in array.as_struct().columns() {
                hash = value_hash(column.as_ref(), row, hash)?;
            }
            hash
        }
        other => return exec_err!("hash() cannot hash {other}"),
    })
}

/// An array's elements, each seeding the next.
fn elements(values: &dyn Array, seed: u32) -> Result<u32> {
    let mut hash = seed;
    for element in 0..values.len() {
        hash = value_hash(values, element, hash)?;
    }
    Ok(hash)
}

/// A timestamp as Spark holds it: microseconds since 1970.
fn micros(array: &dyn Array, unit: TimeUnit, row: usize) -> i64 {
    match unit {
        TimeUnit::Second => {
            array.as_primitive::<TimestampSecondType>().value(row).saturating_mul(1_000_000)
        }
        TimeUnit::Millisecond => {
            array.as_primitive::<TimestampMillisecondType>().value(row).saturating_mul(1_000)
        }
        TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(row),
        TimeUnit::Nanosecond => {
            array.as_primitive::<TimestampNanosecondType>().value(row).div_euclid(1_000)
        }
    }
}

/// The bytes Java's `BigInteger.toByteArray` gives: two's complement, big-endian, as few as
/// keep the sign.
fn java_big_integer_bytes(value: i128) -> Vec<u8> {
    let all = value.to_be_bytes();
    let mut start = 0;
    while start + 1 < all.len() {
        let (this, next) = (all[start], all[start + 1]);
        let redundant = (this == 0x00 && next & 0x80 == 0) || (this == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    all[start..].to_vec()
}

fn mix_k1(k1: u32) -> u32 {
    k1.wrapping_mul(0xcc9e_2d51).rotate_left(15).wrapping_mul(0x1b87_3593)
}

fn mix_h1(h1: u32, k1: u32) -> u32 {
    (h1 ^ k1).rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64)
}

fn finish(mut h1: u32, length: u32) -> u32 {
    h1 ^= length;
    h1 ^= h1 >> 16;
    h1 = h1.wrapping_mul(0x85eb_ca6b);
    h1 ^= h1 >> 13;
    h1 = h1.wrapping_mul(0xc2b2_ae35);
    h1 ^ (h1 >> 16)
}

/// Spark's `Murmur3_x86_32.hashInt`.
fn int(value: i32, seed: u32) -> u32 {
    finish(mix_h1(seed, mix_k1(value as u32)), 4)
}

/// Spark's `Murmur3_x86_32.hashLong`: the low word, then the high one.
fn long(value: i64, seed: u32) -> u32 {
    let low = mix_h1(seed, mix_k1(value as u32));
    finish(mix_h1(low, mix_k1((value >> 32) as u32)), 8)
}

/// Spark's `Murmur3_x86_32.hashUnsafeBytes`: whole words little-endian, then each byte left
/// over on its own, sign-extended.
fn bytes(data: &[u8], seed: u32) -> u32 {
    let mut words = data.chunks_exact(4);
    let mut h1 = seed;
    for word in &mut words {
        h1 = mix_h1(h1, mix_k1(u32::from_le_bytes([word[0], word[1], word[2], word[3]])));
    }
    for byte in words.remainder() {
        h1 = mix_h1(h1, mix_k1(i32::from(*byte as i8) as u32));
    }
    finish(h1, data.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_hash_as_spark_hashes_them() {
        // Spark's own examples: `hash(1)`, and `hash('Spark', array(123), 2)` from its manual.
        assert_eq!(int(1, SEED) as i32, -559_580_957);
        let spark = bytes(b"Spark", SEED);
        let array = int(123, spark);
        assert_eq!(int(2, array) as i32, -1_321_691_492);
    }

    #[test]
    fn big_integers_are_as_short_as_java_writes_them() {
        assert_eq!(java_big_integer_bytes(0), [0x00]);
        assert_eq!(java_big_integer_bytes(127), [0x7f]);
        assert_eq!(java_big_integer_bytes(128), [0x00, 0x80]);
        assert_eq!(java_big_integer_bytes(-1), [0xff]);
        assert_eq!(java_big_integer_bytes(-128), [0x80]);
        assert_eq!(java_big_integer_bytes(-129), [0xff, 0x7f]);
    }
}
