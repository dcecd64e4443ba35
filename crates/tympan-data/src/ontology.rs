//! The AudioSet ontology (`ontology.json`): 632 nodes linked by `child_ids`, with the `abstract`
//! and `blacklist` restrictions.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{DataError, Result, json_error, read_text};

/// One ontology node.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Node {
    /// The id (a Freebase mid like `/m/0bt9lr`, or `/t/...`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description text.
    #[serde(default)]
    pub description: String,
    /// Ids of the children.
    #[serde(default)]
    pub child_ids: Vec<String>,
    /// `abstract` (a grouping node, no clips of its own) and/or `blacklist` (excluded from
    /// the AudioSet release).
    #[serde(default)]
    pub restrictions: Vec<String>,
}

impl Node {
    /// Whether the node is abstract (a grouping node).
    pub fn is_abstract(&self) -> bool {
        self.restrictions.iter().any(|r| r == "abstract")
    }
    /// Whether the node is blacklisted.
    pub fn is_blacklisted(&self) -> bool {
        self.restrictions.iter().any(|r| r == "blacklist")
    }
}

/// The ontology graph (a DAG: a few nodes have several parents).
#[derive(Debug, Clone)]
pub struct Ontology {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    parents: Vec<Vec<usize>>,
    children: Vec<Vec<usize>>,
}

impl Ontology {
    /// Reads `ontology.json`, checking that ids are unique and every child id exists.
    pub fn load(path: &Path) -> Result<Self> {
        let nodes: Vec<Node> =
            serde_json::from_str(&read_text(path)?).map_err(|e| json_error(path, e))?;
        Self::from_nodes(nodes).map_err(|e| DataError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// Builds the graph from nodes; `Err` names the inconsistency.
    pub fn from_nodes(nodes: Vec<Node>) -> Result<Self> {
        let mut index = HashMap::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            if index.insert(n.id.clone(), i).is_some() {
                return Err(DataError::Mismatch(format!("duplicate node id {}", n.id)));
            }
        }
        let mut parents = vec![Vec::new(); nodes.len()];
        let mut children = vec![Vec::new(); nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            for c in &n.child_ids {
                let &j = index
                    .get(c)
                    .ok_or_else(|| format!("node {} lists unknown child {c}", n.id))?;
                children[i].push(j);
                parents[j].push(i);
            }
        }
        Ok(Self {
            nodes,
            index,
            parents,
            children,
        })
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }
    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
    /// The node with `id`.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.index.get(id).map(|&i| &self.nodes[i])
    }
    /// The display name of `id`.
    pub fn name(&self, id: &str) -> Option<&str> {
        self.node(id).map(|n| n.name.as_str())
    }
    /// All nodes, in file order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
    fn ids(&self, idx: &[usize]) -> Vec<&str> {
        idx.iter().map(|&i| self.nodes[i].id.as_str()).collect()
    }
    /// Direct children of `id` (empty for unknown ids).
    pub fn children(&self, id: &str) -> Vec<&str> {
        self.index
            .get(id)
            .map_or_else(Vec::new, |&i| self.ids(&self.children[i]))
    }
    /// Direct parents of `id`.
    pub fn parents(&self, id: &str) -> Vec<&str> {
        self.index
            .get(id)
            .map_or_else(Vec::new, |&i| self.ids(&self.parents[i]))
    }
    fn closure(&self, id: &str, edges: &[Vec<usize>]) -> Vec<&str> {
        let Some(&start) = self.index.get(id) else {
            return Vec::new();
        };
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = edges[start].clone();
        let mut out = Vec::new();
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                out.push(i);
                stack.extend(&edges[i]);
            }
        }
        out.sort_unstable();
        self.ids(&out)
    }
    /// Every ancestor of `id` (transitively, each once, in file order).
    pub fn ancestors(&self, id: &str) -> Vec<&str> {
        self.closure(id, &self.parents)
    }
    /// Every descendant of `id`.
    pub fn descendants(&self, id: &str) -> Vec<&str> {
        self.closure(id, &self.children)
    }
    /// Nodes without parents.
    pub fn roots(&self) -> Vec<&str> {
        let idx: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.parents[i].is_empty())
            .collect();
        self.ids(&idx)
    }
}
