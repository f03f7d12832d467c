#!/usr/bin/env node
/**
 * Versions of segmentio/action-destinations' yarn.lock, for installing its tools with npm.
 *
 *   lockfile-versions.js tools CHECKOUT WORKSPACE[,WORKSPACE...] NAME...
 *     `name@version` of each NAME, as the lockfile resolves it for the first WORKSPACE (a folder of
 *     the checkout with a package.json, '.' for the root) that declares it.
 *   lockfile-versions.js overrides CHECKOUT NODE_MODULES
 *     npm `overrides` (JSON) that pin each package installed in NODE_MODULES to the lockfile's
 *     version, where the lockfile holds one version of it: npm would otherwise take the newest
 *     version of a range, which the monorepo has not run.
 */
const fs = require('fs')
const path = require('path')

function declaredRange(checkout, workspaces, name) {
  for (const workspace of workspaces) {
    const manifest = JSON.parse(fs.readFileSync(path.join(checkout, workspace, 'package.json'), 'utf8'))
    for (const group of ['dependencies', 'devDependencies', 'peerDependencies']) {
      const range = manifest[group] && manifest[group][name]
      if (range) {
        return range
      }
    }
  }
  throw new Error(`no workspace of ${workspaces.join(', ')} declares ${name}`)
}

/** the version of each `name@range` entry of a yarn v1 lockfile */
function lockedVersions(checkout) {
  const versions = new Map()
  const lockfile = fs.readFileSync(path.join(checkout, 'yarn.lock'), 'utf8')
  for (const entry of lockfile.split(/\n(?=\S)/)) {
    const [header, ...body] = entry.split('\n')
    const version = body.map((line) => /^ {2}version "(.*)"$/.exec(line)).find(Boolean)
    if (!version || !header.endsWith(':')) {
      continue
    }
    for (const spec of header.slice(0, -1).split(', ')) {
      versions.set(spec.replace(/^"|"$/g, ''), version[1])
    }
  }
  return versions
}

function nameOf(spec) {
  return spec.slice(0, spec.indexOf('@', 1))
}

function tools(checkout, workspaceList, names) {
  const workspaces = workspaceList.split(',')
  const versions = lockedVersions(checkout)
  for (const name of names) {
    const spec = `${name}@${declaredRange(checkout, workspaces, name)}`
    if (!versions.has(spec)) {
      throw new Error(`yarn.lock has no entry for ${spec}`)
    }
    console.log(`${name}@${versions.get(spec)}`)
  }
}

/** names of the packages under a node_modules folder, at any depth */
function installedNames(nodeModules, names = new Set()) {
  for (const entry of fs.readdirSync(nodeModules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) {
      continue
    }
    const dirs = entry.name.startsWith('@')
      ? fs.readdirSync(path.join(nodeModules, entry.name)).map((scoped) => path.join(entry.name, scoped))
      : [entry.name]
    for (const dir of dirs) {
      names.add(dir)
      const nested = path.join(nodeModules, dir, 'node_modules')
      if (fs.existsSync(nested)) {
        installedNames(nested, names)
      }
    }
  }
  return names
}

function overrides(checkout, nodeModules) {
  const byName = new Map()
  for (const [spec, version] of lockedVersions(checkout)) {
    byName.set(nameOf(spec), (byName.get(nameOf(spec)) || new Set()).add(version))
  }
  const pinned = {}
  for (const name of [...installedNames(nodeModules)].sort()) {
    const versions = byName.get(name)
    if (versions && versions.size === 1) {
      pinned[name] = [...versions][0]
    }
  }
  console.log(JSON.stringify(pinned, null, 2))
}

const [command, checkout, ...rest] = process.argv.slice(2)
if (command === 'tools') {
  tools(checkout, rest[0], rest.slice(1))
} else if (command === 'overrides') {
  overrides(checkout, rest[0])
} else {
  console.error('usage: lockfile-versions.js tools|overrides CHECKOUT ...')
  process.exit(2)
}
