/** GitHub Packages extractors: packages of an organisation or user, and every version of each. */
import type { GitHubClient } from "./client.js";
import type { BatchWriter } from "./batch-writer.js";
import type { Logger } from "../log/logger.js";
import { packageRow, packageVersionRow, type ApiPackage, type ApiPackageVersion } from "./records.js";
import type { PACKAGE_TYPES } from "./config.js";
import { arrayBody, conditionalPages, type HttpCache } from "./pages.js";
import type { ApiResource } from "./api-errors.js";

export type PackageType = (typeof PACKAGE_TYPES)[number];
export interface PackageOwner {
  login: string;
  kind: "Organization" | "User";
}

/**
 * Packages and versions, every list requested conditionally: an unchanged package list answers 304 and
 * its package names come from the warehouse's HTTP cache; an unchanged versions page needs no work.
 */
export async function extractPackages(
  octokit: GitHubClient,
  cache: HttpCache,
  writer: BatchWriter,
  owner: PackageOwner,
  packageType: PackageType,
  log: Logger,
): Promise<{ packages: number; versions: number }> {
  const at = () => new Date().toISOString();
  const scope = owner.kind === "Organization" ? "orgs" : "users";
  const ownerParam: Record<string, string> = owner.kind === "Organization" ? { org: owner.login } : { username: owner.login };
  const ownerPath = owner.kind === "Organization" ? "/orgs/{org}" : "/users/{username}";
  const listSource = `GET /${scope}/${owner.login}/packages?package_type=${packageType}`;
  const resource = (packageName?: string): ApiResource => ({ kind: "packages", owner: owner.login, ownerKind: owner.kind, packageType, ...(packageName ? { packageName } : {}) });
  const names: string[] = [];
  for await (const page of conditionalPages(octokit, cache, { stage: `listing ${packageType} packages`, resource: resource() }, `GET ${ownerPath}/packages`, { ...ownerParam, package_type: packageType, per_page: 100 }, arrayBody<ApiPackage>(), (p) => String(p.name))) {
    if (page.notModified) {
      names.push(...(page.keys ?? []));
      continue;
    }
    const listedAt = at();
    for (const pkg of page.items) {
      const written = await writer.write("packages", packageRow(owner.login, owner.kind, pkg, listedAt), listSource);
      if (written) names.push(pkg.name);
    }
  }
  let versions = 0;
  for (const name of names) {
    const pages = conditionalPages(
      octokit,
      cache,
      { stage: `listing versions of ${packageType} package ${name}`, resource: resource(name) },
      `GET ${ownerPath}/packages/{package_type}/{package_name}/versions`,
      { ...ownerParam, package_type: packageType, package_name: name, per_page: 100, state: "active" },
      arrayBody<ApiPackageVersion>(),
    );
    for await (const page of pages) {
      if (page.notModified) continue;
      const pageAt = at();
      for (const v of page.items) {
        await writer.write("package_versions", packageVersionRow(owner.login, { package_type: packageType, name }, v, pageAt), `${listSource} → ${name} versions`);
        versions += 1;
      }
    }
  }
  log.debug("packages extracted", { owner: owner.login, package_type: packageType, packages: names.length, versions });
  return { packages: names.length, versions };
}
