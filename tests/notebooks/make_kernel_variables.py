"""Writes kernel_variables.ipynb: the variable cases the omeflow kernel must keep between cells
(issue 13). Edit the cells here, run `python3 tests/notebooks/make_kernel_variables.py`, commit both."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell
cells = [
 # 0
 "let x = 1 + 1;\nlet y = 2.5 * 2.0;\nlet first_value = 6 * 7;",
 # 1
 'assert_eq!(x, 2);\nassert_eq!(y, 5.0);\nassert_eq!(first_value, 42);\nprintln!("ok numbers {x} {y} {first_value}");',
 # 2
 'let s = String::from("omeflow");\nlet st = "a static str";\nlet mut text = String::new();',
 # 3
 'let v = vec![1u16, 2, 3];\nlet mut hm = std::collections::HashMap::new();\nhm.insert(String::from("a"), 1u32);\n'
 'let bt = std::collections::BTreeMap::from([(1u8, vec![0.5f64])]);\n'
 'let hs: std::collections::HashSet<i64> = [1, 2].into_iter().collect();\nlet hs2 = std::collections::HashSet::from([3i64]);',
 # 4
 'let o = Some(3u8);\nlet none: Option<String> = None;\nlet parsed = "7".parse::<i32>();\nlet bad = "x".parse::<i32>();\n'
 'let t = (1u8, "two", 3.0f32);\nlet nested = vec![Some(vec![(1u8, String::from("a"))]), None];',
 # 5
 'let shown: Box<dyn std::fmt::Debug> = Box::new(5);\nlet display = Box::new(7) as Box<dyn std::fmt::Display + Send>;\n'
 'let shared = std::sync::Arc::new(std::sync::Mutex::new(vec![1]));',
 # 6
 'let a2 = Array2::<u16>::zeros((2, 3));\nlet ad = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[2, 2, 2]));',
 # 7
 '#[derive(Debug, Clone, PartialEq)]\nstruct Point {\n    x: f64,\n    y: f64,\n}\n\n#[derive(Debug, Clone, PartialEq)]\nenum Shape {\n    Circle(f64),\n    Square(f64),\n}',
 # 8
 'let p = Point { x: 1.0, y: 2.0 };\nlet shapes = vec![Shape::Circle(1.0), Shape::Square(2.0)];',
 # 9
 'let mut counter = 0u64;\nlet shadow = 5;',
 # 10
 'counter += 5;\ntext.push_str("grown");\nlet shadow = "now a str";',
 # 11
 'assert_eq!(s, "omeflow");\nassert_eq!(st, "a static str");\nassert_eq!(text, "grown");\nassert_eq!(v, vec![1, 2, 3]);\n'
 'assert_eq!(hm["a"], 1);\nassert_eq!(bt[&1], vec![0.5]);\nassert!(hs.contains(&2) && hs2.contains(&3));\n'
 'assert_eq!(o, Some(3));\nassert_eq!(none, None);\nassert_eq!(parsed, Ok(7));\nassert!(bad.is_err());\n'
 'assert_eq!(t, (1, "two", 3.0));\nassert_eq!(nested[0].as_ref().map(|n| n[0].1.as_str()), Some("a"));\n'
 'assert_eq!(format!("{shown:?} {display}"), "5 7");\nshared.lock().unwrap().push(2);\nassert_eq!(*shared.lock().unwrap(), vec![1, 2]);\n'
 'assert_eq!(a2.shape(), &[2, 3]);\nassert_eq!(ad.ndim(), 3);\nassert_eq!(p, Point { x: 1.0, y: 2.0 });\nassert_eq!(shapes[1], Shape::Square(2.0));\n'
 'assert_eq!(counter, 5);\nassert_eq!(shadow, "now a str");\nprintln!("ok all kept");',
 # 12
 'let conn = connect(SAMPLE, "", "")?;\nlet image = conn.image(4007801)?;\nlet pixels = image.pixels(0)?;\n'
 'let tasks = (0..3usize)\n    .map(|z| {\n        let data = pixels.clone();\n'
 '        delayed(format!("z {z}"), move || -> Result<Segmentation> {\n'
 '            let plane: Array2<u16> = data.plane_as(0, 0, z)?;\n            segment(&plane, &SegmentParams::default())\n        })\n    })\n    .collect::<Vec<_>>();',
 # 13
 'let client = Client::with_workers(2)?;\nlet future = client.submit(|| Ok::<_, String>(21u32 * 2));\n'
    'let project = Project::open(sample_project()?)?;',
 # 14
 'let results = compute(tasks)?;\nassert_eq!(results.len(), 3);\nassert_eq!(client.gather(vec![future])?, vec![42]);\n'
 'println!("ok omeflow {} {} {}", image.id(), pixels.shape().len(), project.to_string().len() > 0);',
 # 15
 ':dep itoa = "1"\nlet buffer = itoa::Buffer::new();',
 # 16
 'let mut buffer = buffer;\nassert_eq!(buffer.format(42u8), "42");\nprintln!("ok dep");',
 # 17
 'let moved = String::from("moved");\nlet moved_len = {\n    let c = move || moved.len();\n    c()\n};',
 # 18
 'assert_eq!(moved_len, 5);\nprintln!("ok moved");',
 # 19
 ':vars',
 # 20
 'let r = &v;',
 # 21
 'let add = |a: i32| a + 1;',
 # 22
 'let doubled = v.clone().into_iter().map(|x| x * 2);\nlet stepped = (0..10).step_by(3);',
 # 23
 'assert_eq!(stepped.collect::<Vec<i32>>(), vec![0, 3, 6, 9]);\nprintln!("ok iterator");',
 # 24
 'let oops: u8 = "not a number";',
 # 25
 'let before_panic = 1;\npanic!("deliberate {}", 7);',
 # 26
 'let number: i32 = "nope".parse::<i32>()?;',
 # 27
 'assert_eq!(v, vec![1, 2, 3]);\nassert_eq!(counter, 5);\nassert_eq!(results.len(), 3);\nprintln!("ok survived");',
 # 28: every cell links the one omeflow library the kernel loaded (kernel/shared)
 'let omeflow_libraries = {\n    let maps = std::fs::read_to_string("/proc/self/maps")?;\n'
 '    let paths: std::collections::BTreeSet<String> = maps.lines().filter_map(|l| l.split_whitespace().nth(5)).filter(|p| p.rsplit("/").next().is_some_and(|file| file.starts_with("libomeflow"))).map(String::from).collect();\n'
 '    paths.len()\n};\nprintln!("omeflow libraries loaded: {omeflow_libraries}");',
]
nb = new_notebook()
nb.cells.append(new_markdown_cell(
    "# Variables kept between cells\n\nThe omeflow kernel names each new variable's type from the running cell "
    "(`std::any::type_name`), with no rust-analyzer. Each case is defined in one cell and checked in a later one; "
    "the cells that must fail say so in this notebook's metadata (`omeflow.checks.errors`). "
    "tests/notebooks/run_notebooks.py runs it with the analysis fallback switched off."))
nb.cells += [new_code_cell(c) for c in cells]
nb.metadata["kernelspec"] = {"name": "omeflow-rust", "display_name": "Rust (omeflow)", "language": "rust"}
nb.metadata["language_info"] = {"name": "Rust"}
nb.metadata["omeflow"] = {"checks": {
    "expect": {"1": ["ok numbers 2 5 42"], "11": ["ok all kept"], "14": ["ok omeflow 4007801 5 true"],
               "16": ["ok dep"], "18": ["ok moved"], "19": ["counter", "moved_len", "pixels", "project", "client"],
               "21": ["`add` is a closure"], "22": ["`doubled` holds a closure"], "23": ["ok iterator"],
               "27": ["ok survived"], "28": ["omeflow libraries loaded: 1"]},
    "absent": {"19": ["moved:"]},
    "errors": {"20": ["non-static lifetime"], "24": ["mismatched types"],
               "25": ["line 2 of this cell", "deliberate 7"], "26": ["invalid digit"]},
}}
nbformat.write(nb, Path(__file__).with_name("kernel_variables.ipynb"))
