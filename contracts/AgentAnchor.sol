// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// Per agent, the latest life-data manifest on the DA layer, its log checkpoint and the
/// recovery epoch, so nobody can roll an agent back to older state unnoticed.
/// An agent is named by its anchor key's address (a secp256k1 key its enclave derives
/// from the agent root, used for nothing else): only that key's signature updates its
/// slot, so no one can squat or overwrite another agent's anchor; anyone may relay.
contract AgentAnchor {
    struct Anchor {
        bytes32 manifestHash; // SHA-256 of the signed manifest's body (anima_verify.lifedata)
        bytes32 checkpointRoot; // the anchored log checkpoint's root
        uint64 version; // manifest version: strictly increasing
        uint64 checkpointSize; // the anchored log size: never shrinks
        uint64 epoch; // recovery epoch: a recovery bumps it, older enclaves stop (fencing)
    }

    bytes32 public constant UPDATE_TAG = keccak256("anima/agent-anchor/update/v1");

    mapping(address => Anchor) public anchors;

    event Anchored(
        address indexed agent, uint64 version, bytes32 manifestHash, uint64 checkpointSize, uint64 epoch
    );

    error BadSignature();
    error VersionNotNewer(uint64 anchored, uint64 offered);
    error EpochRolledBack(uint64 anchored, uint64 offered);
    error LogShrank(uint64 anchored, uint64 offered);

    function updateDigest(address agent, Anchor calldata a) public view returns (bytes32) {
        return keccak256(
            abi.encode(
                UPDATE_TAG,
                block.chainid,
                address(this),
                agent,
                a.manifestHash,
                a.checkpointRoot,
                a.version,
                a.checkpointSize,
                a.epoch
            )
        );
    }

    function update(address agent, Anchor calldata a, uint8 v, bytes32 r, bytes32 s) external {
        address signer = ecrecover(updateDigest(agent, a), v, r, s);
        if (signer == address(0) || signer != agent) revert BadSignature();
        Anchor storage current = anchors[agent];
        if (a.version <= current.version) revert VersionNotNewer(current.version, a.version);
        if (a.epoch < current.epoch) revert EpochRolledBack(current.epoch, a.epoch);
        if (a.checkpointSize < current.checkpointSize) revert LogShrank(current.checkpointSize, a.checkpointSize);
        anchors[agent] = a;
        emit Anchored(agent, a.version, a.manifestHash, a.checkpointSize, a.epoch);
    }
}
