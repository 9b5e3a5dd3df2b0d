/** JSON Schema of pipeline documents (top level) and of included chain documents. */
export const NODE_ID_PATTERN = '^[A-Za-z_][A-Za-z0-9_-]*$';
export const PORT_REF_PATTERN = '^[A-Za-z_][A-Za-z0-9_/-]*\\.[A-Za-z_][A-Za-z0-9_-]*$';

const nodeSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    type: { type: 'string', minLength: 1 },
    include: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    params: { type: 'object' },
    inputs: {
      type: 'object',
      propertyNames: { pattern: NODE_ID_PATTERN },
      additionalProperties: { type: 'string', pattern: PORT_REF_PATTERN },
    },
  },
  oneOf: [{ required: ['type'] }, { required: ['include'] }],
};

export const pipelineSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'name', 'nodes'],
  properties: {
    version: { const: 1 },
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' },
    description: { type: 'string' },
    params: { type: 'object', propertyNames: { pattern: NODE_ID_PATTERN } },
    models: {
      type: 'object',
      propertyNames: { pattern: NODE_ID_PATTERN },
      additionalProperties: { type: 'string', minLength: 1 },
    },
    plugins: { type: 'array', items: { type: 'string', minLength: 1 } },
    inputs: {
      type: 'object',
      propertyNames: { pattern: NODE_ID_PATTERN },
      additionalProperties: { type: 'string' },
    },
    outputs: {
      type: 'object',
      propertyNames: { pattern: NODE_ID_PATTERN },
      additionalProperties: { type: 'string', pattern: PORT_REF_PATTERN },
    },
    nodes: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: NODE_ID_PATTERN },
      additionalProperties: nodeSchema,
    },
  },
} as const;
