/** Synthesizes the relay stack for template assertions (inline stand-ins unless `bundle: true`). */
import { Template } from 'aws-cdk-lib/assertions';
import type { RelayConfig } from '../../lambdas/domain/config/types.ts';
import { createRelayApp } from '../../lib/app.ts';
import type { FactoryRelayStack, FactoryRelayStackProps } from '../../lib/factory-relay-stack.ts';
import { TEST_ENV } from './fixtures.ts';

export interface CfnResource {
  Type: string;
  Properties: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  DependsOn?: string[];
}

export interface Synthesized {
  stack: FactoryRelayStack;
  template: Template;
  json: { Resources: Record<string, CfnResource>; Outputs: Record<string, { Value: unknown }> };
  text: string;
}

export function synth(config: RelayConfig, props: Partial<FactoryRelayStackProps> = {}): Synthesized {
  const { stack } = createRelayApp({
    nag: false,
    stack: { config, configJson: JSON.stringify(config), env: TEST_ENV, bundle: false, ...props },
  });
  const template = Template.fromStack(stack);
  const json = template.toJSON() as Synthesized['json'];
  return { stack, template, json, text: JSON.stringify(json) };
}

export function resourcesOf(s: Synthesized, type: string): Array<[string, CfnResource]> {
  return Object.entries(s.json.Resources).filter(([, r]) => r.Type === type);
}

/** The resource with that logical id (fails the test when it is missing). */
export function resource(s: Synthesized, logicalId: string): CfnResource {
  const r = s.json.Resources[logicalId];
  if (!r) throw new Error(`no resource ${logicalId} in the template`);
  return r;
}

export function logicalIdOf(s: Synthesized, construct: { node: { defaultChild?: unknown } }): string {
  const child = construct.node.defaultChild;
  if (!child) throw new Error('construct has no default child');
  return s.stack.getLogicalId(child as Parameters<FactoryRelayStack['getLogicalId']>[0]);
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
  Condition?: unknown;
}

export const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** Statements of the role's inline default policy (the one the grants write to). */
export function roleStatements(s: Synthesized, roleLogicalId: string): Statement[] {
  const out: Statement[] = [];
  for (const [, r] of resourcesOf(s, 'AWS::IAM::Policy')) {
    const roles = r.Properties.Roles as Array<{ Ref: string }>;
    if (!roles.some((x) => x.Ref === roleLogicalId)) continue;
    out.push(...((r.Properties.PolicyDocument as { Statement: Statement[] }).Statement ?? []));
  }
  return out;
}

export function actionsOn(statements: Statement[], resourceJson: string): string[] {
  return statements
    .filter((st) => asArray(st.Resource).some((r) => JSON.stringify(r) === resourceJson))
    .flatMap((st) => asArray(st.Action));
}
